/** A stand-in for stdout/stderr that keeps what was written, for tests of the CLI commands. */
export function sink(): NodeJS.WriteStream & { text: () => string } {
  let buffer = '';
  return {
    isTTY: false,
    write(chunk: string | Uint8Array) {
      buffer += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
      return true;
    },
    text: () => buffer,
  } as unknown as NodeJS.WriteStream & { text: () => string };
}
