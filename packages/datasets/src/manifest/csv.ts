/** One parsed CSV row with the 1-based line it starts on (for error messages). */
export interface CsvRow {
  line: number;
  fields: string[];
}

/**
 * RFC 4180 CSV: comma-separated, fields optionally in double quotes (a doubled quote is a literal one,
 * quoted fields may hold commas and newlines), CRLF or LF line ends, blank lines skipped. Returns the
 * rows, or the line of an unterminated quote.
 */
export function parseCsv(text: string): { rows: CsvRow[] } | { unterminatedQuoteAt: number } {
  const rows: CsvRow[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  let quoteLine = 0;
  let rowHasContent = false;
  const endRow = () => {
    if (rowHasContent || fields.length > 0 || field.length > 0) {
      fields.push(field);
      rows.push({ line: rowLine, fields });
    }
    fields = [];
    field = '';
    rowHasContent = false;
  };
  const start = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
      continue;
    }
    if (ch === '"' && field.length === 0) {
      quoted = true;
      quoteLine = line;
      rowHasContent = true;
    } else if (ch === ',') {
      fields.push(field);
      field = '';
      rowHasContent = true;
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRow();
      line++;
      rowLine = line;
    } else {
      field += ch;
    }
  }
  if (quoted) return { unterminatedQuoteAt: quoteLine };
  endRow();
  return { rows };
}
