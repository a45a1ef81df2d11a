/** A one-line progress display on stderr: redrawn in place on a TTY, a line every few seconds otherwise. */
export function createProgress(label: string, stream: NodeJS.WriteStream = process.stderr) {
  const tty = Boolean(stream.isTTY);
  let lastLine = 0;
  let shown = false;
  return {
    update(text: string, fraction?: number): void {
      const now = Date.now();
      if (!tty && now - lastLine < 2000) return;
      lastLine = now;
      const bar = fraction === undefined ? '' : `[${'#'.repeat(Math.round(Math.min(1, fraction) * 24)).padEnd(24, '.')}] ${(Math.min(1, fraction) * 100).toFixed(0).padStart(3)}% `;
      const line = `${label} ${bar}${text}`;
      if (tty) stream.write(`\r\x1b[2K${line}`);
      else stream.write(`${line}\n`);
      shown = true;
    },
    done(text?: string): void {
      if (tty && shown) stream.write('\r\x1b[2K');
      if (text) stream.write(`${label} ${text}\n`);
    },
  };
}
