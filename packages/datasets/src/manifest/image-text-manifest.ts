import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { GenviewError } from '@genview/core';
import { parseCsv } from './csv';

export interface ImageTextRecord {
  /** Absolute image path. */
  path: string;
  caption: string;
  label?: string;
}

export interface ManifestColumns {
  path: string;
  caption: string;
  label?: string;
}

function layout(columns: ManifestColumns): string {
  const label = columns.label ? `, ${columns.label}` : '';
  return `CSV with a header row naming ${columns.path}, ${columns.caption}${label} (e.g. "${columns.path},${columns.caption}" then "img/0001.jpg,a dog on a beach"), or JSONL with one object per line ({"${columns.path}": "img/0001.jpg", "${columns.caption}": "a dog on a beach"}); image paths relative to the manifest's folder or to root`;
}

/** Field values of each manifest row, keyed by column name, with the line each came from. */
function rowsOf(file: string, text: string, format: 'csv' | 'jsonl', fix: string): { line: number; values: Record<string, unknown> }[] {
  if (format === 'jsonl') {
    const out: { line: number; values: Record<string, unknown> }[] = [];
    text.split(/\r?\n/).forEach((raw, i) => {
      if (raw.trim() === '') return;
      let value: unknown;
      try {
        value = JSON.parse(raw);
      } catch (error) {
        throw new GenviewError('BAD_INPUT', `${file}:${i + 1} is not valid JSON (${(error as Error).message}).`, { where: `${file}:${i + 1}`, fix, cause: error });
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new GenviewError('BAD_INPUT', `${file}:${i + 1} is not a JSON object.`, { where: `${file}:${i + 1}`, fix });
      }
      out.push({ line: i + 1, values: value as Record<string, unknown> });
    });
    return out;
  }
  const parsed = parseCsv(text);
  if ('unterminatedQuoteAt' in parsed) {
    throw new GenviewError('BAD_INPUT', `${file}:${parsed.unterminatedQuoteAt} opens a quoted field that is never closed.`, { where: file, fix });
  }
  const [header, ...body] = parsed.rows;
  if (!header) return [];
  const names = header.fields.map((f) => f.trim());
  return body.map((row) => {
    if (row.fields.length !== names.length) {
      throw new GenviewError('BAD_INPUT', `${file}:${row.line} has ${row.fields.length} fields but the header has ${names.length} (${names.join(', ')}).`, {
        where: `${file}:${row.line}`,
        fix: 'quote fields that contain commas ("a dog, running").',
      });
    }
    return { line: row.line, values: Object.fromEntries(names.map((n, i) => [n, row.fields[i]])) };
  });
}

/**
 * The (image path, caption[, label]) records of a CSV or JSONL manifest, checked: every named column is
 * present, captions are non-empty strings, and every image file exists. Errors name the file and line.
 */
export function readImageTextManifest(file: string, options: { columns: ManifestColumns; root?: string; format?: 'csv' | 'jsonl'; where: string }): ImageTextRecord[] {
  const { columns, where } = options;
  const fix = `write the manifest as ${layout(columns)}.`;
  if (!existsSync(file) || !statSync(file).isFile()) {
    throw new GenviewError('NOT_FOUND', `the image-text manifest ${file} does not exist.`, { where: `${where}.file`, fix });
  }
  const ext = extname(file).toLowerCase();
  const format = options.format ?? (ext === '.csv' ? 'csv' : ext === '.jsonl' || ext === '.ndjson' ? 'jsonl' : undefined);
  if (!format) {
    throw new GenviewError('INVALID_CONFIG', `cannot tell the format of ${file} from its extension "${ext}".`, {
      where: `${where}.format`,
      fix: 'name the file .csv or .jsonl, or set format: csv | jsonl.',
    });
  }
  const rows = rowsOf(file, readFileSync(file, 'utf8'), format, fix);
  if (rows.length === 0) {
    throw new GenviewError('EMPTY_DATASET', `${file} holds no records.`, { where: `${where}.file`, fix });
  }
  const base = options.root ? resolve(options.root) : dirname(resolve(file));
  const wanted = [columns.path, columns.caption, ...(columns.label ? [columns.label] : [])];
  return rows.map(({ line, values }) => {
    for (const column of wanted) {
      const value = values[column];
      if (typeof value !== 'string' && !(column === columns.label && typeof value === 'number')) {
        const found = Object.keys(values).join(', ') || '(none)';
        throw new GenviewError('BAD_INPUT', `${file}:${line} has no ${column} ${value === undefined ? 'field' : 'string'} (fields: ${found}).`, {
          where: `${file}:${line}`,
          fix: `${fix} Other column names: set pathColumn / captionColumn${columns.label ? ' / labelColumn' : ''}.`,
        });
      }
    }
    const caption = (values[columns.caption] as string).trim();
    if (caption.length === 0) {
      throw new GenviewError('BAD_INPUT', `${file}:${line} has an empty caption.`, { where: `${file}:${line}`, fix: 'give every image a caption, or drop the row.' });
    }
    const given = values[columns.path] as string;
    const path = isAbsolute(given) ? given : resolve(base, given);
    if (!existsSync(path)) {
      throw new GenviewError('NOT_FOUND', `${file}:${line} names ${given}, but ${path} does not exist.`, {
        where: `${file}:${line}`,
        fix: `paths are relative to ${base}${options.root ? ' (root)' : " (the manifest's folder; set root to change it)"}.`,
      });
    }
    return { path, caption, ...(columns.label ? { label: String(values[columns.label]) } : {}) };
  });
}
