import path from 'node:path';
import winston from 'winston';

export type Logger = winston.Logger & { reopen(): void };

/** Readable lines on the console, JSON lines in the log file; `reopen` serves SIGHUP after log rotation. */
export function createLogger(level: string, file: string | null): Logger {
  // Per-request lines go to the log file; the console shows them only at debug level.
  const quietRequests = winston.format((info) => (info.message === 'request' && level !== 'debug' ? false : info));
  const consoleFormat = winston.format.combine(
    quietRequests(),
    winston.format.timestamp(),
    ...(process.stdout.isTTY ? [winston.format.colorize()] : []),
    winston.format.printf(({ timestamp, level, message, ...meta }) => {
      const extra = Object.keys(meta).length ? ' ' + JSON.stringify(meta) : '';
      return `${timestamp} ${level} ${message}${extra}`;
    }),
  );
  const logger = winston.createLogger({
    level,
    transports: [new winston.transports.Console({ format: consoleFormat })],
  }) as Logger;
  const fileFormat = winston.format.combine(winston.format.timestamp(), winston.format.json());
  let fileTransport: winston.transport | null = null;
  const openFile = () => {
    if (!file) return;
    fileTransport = new winston.transports.File({ filename: path.resolve(file), format: fileFormat });
    logger.add(fileTransport);
  };
  logger.reopen = () => {
    if (fileTransport) {
      logger.remove(fileTransport);
      fileTransport.close?.();
    }
    openFile();
  };
  openFile();
  return logger;
}
