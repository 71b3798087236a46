// Reports: inventory, access, rotation, unused — summary, charts (plain SVG) and the rows.
import { useEffect, useState } from 'react';
import { api, ApiError, query } from '../api';

type Cell = string | number | boolean | null;
interface Chart { title: string; type: 'bar' | 'line'; labels: string[]; series: { name: string; values: number[] }[] }
interface Report { kind: string; title: string; generated_at: string; since: string | null; columns: string[]; rows: Record<string, Cell>[]; summary: Record<string, number>; charts: Chart[] }
const KINDS = ['inventory', 'access', 'rotation', 'unused'] as const;
const COLOURS = ['#1f3a5f', '#b54708', '#667085', '#b42318'];

function ChartView(props: { chart: Chart }) {
  const { chart } = props;
  const width = 600;
  const height = 180;
  const max = Math.max(1, ...chart.series.flatMap((s) => s.values));
  const slot = width / Math.max(1, chart.labels.length);
  const bar = (slot * 0.8) / Math.max(1, chart.series.length);
  return (
    <figure className="card chart">
      <figcaption>{chart.title}</figcaption>
      <svg viewBox={`0 0 ${width} ${height + 20}`} role="img" aria-label={chart.title}>
        {chart.series.map((s, si) => chart.type === 'line'
          ? <polyline key={s.name} fill="none" stroke={COLOURS[si % COLOURS.length]} strokeWidth={2} points={s.values.map((v, i) => `${i * slot + slot / 2},${height - (v / max) * height}`).join(' ')} />
          : s.values.map((v, i) => <rect key={`${s.name}-${i}`} x={i * slot + slot * 0.1 + si * bar} y={height - (v / max) * height} width={bar} height={(v / max) * height} fill={COLOURS[si % COLOURS.length]}><title>{`${chart.labels[i]}: ${v}`}</title></rect>))}
        {chart.labels.length <= 16 && chart.labels.map((l, i) => <text key={l} x={i * slot + slot / 2} y={height + 14} textAnchor="middle" fontSize={10} fill="#55606e">{l.length > 12 ? `${l.slice(0, 11)}…` : l}</text>)}
      </svg>
      {chart.series.length > 1 && <p className="muted">{chart.series.map((s, i) => <span key={s.name} className="legend" data-colour={i}>{s.name} </span>)}</p>}
    </figure>
  );
}

export function ReportsPage() {
  const [kind, setKind] = useState<(typeof KINDS)[number]>('inventory');
  const [since, setSince] = useState('90d');
  const [report, setReport] = useState<Report | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    setError('');
    api<Report>('GET', `/v1/reports/${kind}${query({ since: kind === 'access' || kind === 'rotation' ? since : undefined })}`)
      .then(setReport, (e) => setError(e instanceof ApiError ? `${e.code}: ${e.message}` : 'could not load the report'));
  }, [kind, since]);

  return (
    <section aria-labelledby="reports-title">
      <div className="bar">
        <h1 id="reports-title">Reports</h1>
        <label>Report<select aria-label="Report kind" value={kind} onChange={(e) => setKind(e.target.value as typeof kind)}>{KINDS.map((k) => <option key={k}>{k}</option>)}</select></label>
        <label>Since<select aria-label="Report period" value={since} onChange={(e) => setSince(e.target.value)}><option value="7d">7 days</option><option value="30d">30 days</option><option value="90d">90 days</option><option value="365d">1 year</option></select></label>
      </div>
      {error && <p role="alert" className="error">{error}</p>}
      {report && (
        <>
          <h2>{report.title}</h2>
          <dl className="summary">{Object.entries(report.summary).map(([k, v]) => <div key={k}><dt>{k.replace(/_/g, ' ')}</dt><dd>{v}</dd></div>)}</dl>
          <div className="grid2">{report.charts.map((c) => <ChartView key={c.title} chart={c} />)}</div>
          <table>
            <thead><tr>{report.columns.map((c) => <th key={c} scope="col">{c}</th>)}</tr></thead>
            <tbody>{report.rows.slice(0, 500).map((r, i) => <tr key={i}>{report.columns.map((c) => <td key={c}>{r[c] === null ? '' : String(r[c])}</td>)}</tr>)}</tbody>
          </table>
          {report.rows.length > 500 && <p className="muted">First 500 of {report.rows.length} rows; `custos report {report.kind} --format csv` gives all.</p>}
        </>
      )}
    </section>
  );
}
