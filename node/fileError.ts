// A file the tool cannot read or write: its own error, with the path and the
// system's code (ENOENT, EACCES, EISDIR...), so that a disk's refusal is
// never reported as the capture engine's.

export class FileError extends Error {
  constructor(
    readonly code: string,
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'FileError';
  }
}
