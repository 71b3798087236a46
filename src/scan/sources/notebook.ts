/**
 * The text of a Jupyter notebook: each cell's source and its outputs (stream text, text/plain
 * and other textual results, tracebacks). Images in outputs are base64 and are skipped: they
 * are pictures, not secrets, and they are the noisiest part of a notebook.
 */
export interface NotebookPart {
  location: string;
  text: string;
}

type Multiline = string | string[] | undefined;
const joined = (value: Multiline) => (Array.isArray(value) ? value.join('') : value ?? '');

interface Cell {
  cell_type?: string;
  source?: Multiline;
  outputs?: { text?: Multiline; data?: Record<string, Multiline>; traceback?: string[] }[];
}

/** Null when `text` is not a notebook (then it is scanned as plain text). */
export function notebookParts(text: string): NotebookPart[] | null {
  let doc: { cells?: Cell[] };
  try {
    doc = JSON.parse(text) as { cells?: Cell[] };
  } catch {
    return null;
  }
  if (!doc || !Array.isArray(doc.cells)) return null;
  const parts: NotebookPart[] = [];
  doc.cells.forEach((cell, i) => {
    const n = i + 1;
    const source = joined(cell.source);
    if (source) parts.push({ location: `cell ${n}`, text: source });
    (cell.outputs ?? []).forEach((output, j) => {
      const texts = [joined(output.text), ...(output.traceback ?? [])];
      for (const [mime, value] of Object.entries(output.data ?? {})) {
        if (mime.startsWith('text/') || mime === 'application/json') texts.push(typeof value === 'object' && !Array.isArray(value) ? JSON.stringify(value) : joined(value));
      }
      const body = texts.filter(Boolean).join('\n');
      if (body) parts.push({ location: `cell ${n} output ${j + 1}`, text: body });
    });
  });
  return parts;
}
