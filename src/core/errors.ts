/** An error meant for the client: `code` follows HTTP, `message` is safe to show. */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly details: unknown[] = [],
  ) {
    super(message);
    this.name = 'RpcError';
  }

  toArgs(): { code: number; message: string; details: unknown[] } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export const badRequest = (message: string, details: unknown[] = []) => new RpcError(400, message, details);
export const unauthorized = (message = 'not authenticated') => new RpcError(401, message);
export const forbidden = (message: string) => new RpcError(403, message);
export const notFound = (message: string) => new RpcError(404, message);
export const notAcceptable = (message: string) => new RpcError(406, message);
export const conflict = (message: string) => new RpcError(409, message);
