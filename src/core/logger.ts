import path from 'node:path';
import winston from 'winston';
import { setTimeout as sleep } from 'node:timers/promises';

export type Logger = winston.Logger & { reopen(): void; flushAndClose(): Promise<void> };

// How long shutdown waits for a log backlog to reach the file.
const FLUSH_LIMIT_MS = 10_000;

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
  // A transport failing (disk full, a line logged after flushAndClose) must cost log lines, never
  // the daemon: unhandled, winston's error event made it exit 1 on SIGTERM under load.
  logger.on('error', (err: Error) => process.stderr.write(`hyved: logging failed: ${err.message}\n`));
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
  /**
   * Resolves once every line logged so far is in the file. winston 3 ends its transports as soon
   * as the logger's input is consumed, while lines can still wait in its output for a file that
   * pushed back: under load that lost the last lines (and threw "write after end"). So wait for
   * that buffer to empty first; the transports then finish only once their files are written.
   */
  logger.flushAndClose = async () => {
    const deadline = Date.now() + FLUSH_LIMIT_MS;
    while (logger.readableLength > 0 && Date.now() < deadline) await sleep(10);
    await new Promise<void>((resolve) => logger.end(resolve));
  };
  openFile();
  return logger;
}
