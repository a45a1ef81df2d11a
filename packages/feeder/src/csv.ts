/** A parsed CSV record, or why the line is not one (the reason never quotes the line). */
export type CsvLine = { readonly ok: true; readonly fields: string[] } | { readonly ok: false; readonly reason: string };

/**
 * Parses one physical line as one RFC 4180 record: fields separated by `,`; a field may be
 * enclosed in `"` with `""` for a literal quote, and may then contain commas. A quoted field
 * cannot span lines (an unterminated quote is an error), and a quote inside an unquoted field is
 * an error as the RFC requires.
 */
export function parseCsvLine(line: string): CsvLine {
  if (!line.includes('"')) return { ok: true, fields: line.split(',') };
  const fields: string[] = [];
  const n = line.length;
  let i = 0;
  for (;;) {
    if (line.charCodeAt(i) === 34) {
      let value = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) return { ok: false, reason: 'unterminated quoted field (a record must fit on one line)' };
        value += line.slice(i, q);
        if (line.charCodeAt(q + 1) === 34) {
          value += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      if (i < n && line.charCodeAt(i) !== 44) return { ok: false, reason: 'unexpected text after a closing quote' };
      fields.push(value);
    } else {
      const comma = line.indexOf(',', i);
      const end = comma < 0 ? n : comma;
      const value = line.slice(i, end);
      if (value.includes('"')) return { ok: false, reason: 'quote inside an unquoted field' };
      fields.push(value);
      i = end;
    }
    if (i >= n) return { ok: true, fields };
    i++; // past the comma; a trailing comma yields one more, empty, field
  }
}

/** Quotes a value for CSV output when it needs it. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}
