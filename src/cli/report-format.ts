import type { Cell, Report, ReportChart } from '../engines/reports/report.types.js';

/**
 * Renders a report as CSV (RFC 4180), an aligned text table, or one self-contained HTML file
 * with inline SVG charts (no script, no external asset: it opens offline in an auditor's
 * browser or archive viewer).
 */
const text = (c: Cell | undefined) => (c === null || c === undefined ? '' : typeof c === 'boolean' ? (c ? 'yes' : 'no') : String(c));

export function toCsv(report: Report): string {
  const quote = (v: string) => (/[",\r\n]/.test(v) || /^[=+\-@]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  const lines = [report.columns.map(quote).join(','), ...report.rows.map((r) => report.columns.map((c) => quote(text(r[c]))).join(','))];
  return lines.join('\r\n') + '\r\n';
}

export function toTable(report: Report): string {
  const cells = [report.columns.map((c) => c.toUpperCase()), ...report.rows.map((r) => report.columns.map((c) => text(r[c]) || '-'))];
  const widths = report.columns.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  const body = cells.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
  const summary = Object.entries(report.summary).map(([k, v]) => `${k.replace(/_/g, ' ')}: ${v}`).join(', ');
  return `${report.title} (generated ${report.generated_at}${report.since ? `, since ${report.since.slice(0, 10)}` : ''})\n${summary}\n\n${body}\n`;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);
const COLORS = ['#2563eb', '#dc2626', '#9ca3af', '#16a34a', '#d97706', '#7c3aed'];

export function chartSvg(chart: ReportChart): string {
  const width = 720;
  const height = 240;
  const pad = { left: 40, right: 10, top: 20, bottom: 40 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const max = Math.max(1, ...chart.series.flatMap((s) => s.values));
  const y = (v: number) => pad.top + plotH - (v / max) * plotH;
  const parts: string[] = [];
  parts.push(`<line x1="${pad.left}" y1="${pad.top + plotH}" x2="${width - pad.right}" y2="${pad.top + plotH}" stroke="#333"/>`);
  parts.push(`<text x="${pad.left - 4}" y="${pad.top + 4}" text-anchor="end" font-size="10">${max}</text><text x="${pad.left - 4}" y="${pad.top + plotH}" text-anchor="end" font-size="10">0</text>`);
  const n = Math.max(1, chart.labels.length);
  const step = plotW / n;
  const labelEvery = Math.max(1, Math.ceil(n / 12));
  chart.labels.forEach((label, i) => {
    if (i % labelEvery === 0) parts.push(`<text x="${(pad.left + step * (i + 0.5)).toFixed(1)}" y="${height - pad.bottom + 14}" text-anchor="middle" font-size="10">${escapeHtml(label)}</text>`);
  });
  if (chart.type === 'bar') {
    const barW = (step * 0.8) / Math.max(1, chart.series.length);
    chart.series.forEach((s, k) => s.values.forEach((v, i) => {
      const x = pad.left + step * i + step * 0.1 + barW * k;
      parts.push(`<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${barW.toFixed(1)}" height="${(pad.top + plotH - y(v)).toFixed(1)}" fill="${COLORS[k % COLORS.length]}"><title>${escapeHtml(`${s.name} ${chart.labels[i]}: ${v}`)}</title></rect>`);
    }));
  } else {
    chart.series.forEach((s, k) => {
      const points = s.values.map((v, i) => `${(pad.left + step * (i + 0.5)).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
      parts.push(`<polyline points="${points}" fill="none" stroke="${COLORS[k % COLORS.length]}" stroke-width="2"/>`);
    });
  }
  const legend = chart.series.map((s, k) => `<rect x="${pad.left + k * 120}" y="${height - 14}" width="10" height="10" fill="${COLORS[k % COLORS.length]}"/><text x="${pad.left + k * 120 + 14}" y="${height - 5}" font-size="11">${escapeHtml(s.name)}</text>`).join('');
  return `<figure><figcaption>${escapeHtml(chart.title)}</figcaption><svg xmlns="http://www.w3.org/2000/svg" role="img" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join('')}${legend}</svg></figure>`;
}

export function toHtml(reports: Report[]): string {
  const sections = reports.map((r) => {
    const summary = Object.entries(r.summary).map(([k, v]) => `<li>${escapeHtml(k.replace(/_/g, ' '))}: <b>${v}</b></li>`).join('');
    const head = r.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('');
    const rows = r.rows.map((row) => `<tr>${r.columns.map((c) => `<td>${escapeHtml(text(row[c]))}</td>`).join('')}</tr>`).join('\n');
    return `<section><h2>${escapeHtml(r.title)}</h2><p>Generated ${escapeHtml(r.generated_at)}${r.since ? `, period from ${escapeHtml(r.since.slice(0, 10))}` : ''}.</p><ul>${summary}</ul>${r.charts.map(chartSvg).join('')}<table><thead><tr>${head}</tr></thead><tbody>\n${rows}\n</tbody></table></section>`;
  }).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Custos report</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;color:#111}table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f3f4f6}figure{margin:1em 0}figcaption{font-weight:600}</style>
</head><body><h1>Custos report</h1>
${sections}
</body></html>
`;
}
