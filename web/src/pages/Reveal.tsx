// A secret value, fetched only when the user asks (the read is an audit event on the server),
// shown masked until "Show", copyable, and dropped from the DOM and from memory on "Hide".
import { useState } from 'react';
import { api, ApiError, enc, query } from '../api';

export function Reveal(props: { name: string; versionId?: string }) {
  const [value, setValue] = useState<string | null>(null);
  const [shown, setShown] = useState(false);
  const [note, setNote] = useState('');

  const reveal = async () => {
    setNote('');
    try {
      const r = await api<{ value?: string; value_base64?: string }>('GET', `/v1/values/${enc(props.name)}${query({ version_id: props.versionId })}`);
      setValue(r.value ?? `base64:${r.value_base64 ?? ''}`);
      setShown(false);
    } catch (e) {
      setNote(e instanceof ApiError ? `${e.code}: ${e.message}` : 'could not read the value');
    }
  };
  const hide = () => {
    setValue(null);
    setShown(false);
  };
  const copy = async () => {
    if (value === null) return;
    try {
      await navigator.clipboard.writeText(value);
      setNote('copied');
    } catch {
      setNote('the browser refused the clipboard');
    }
  };

  if (value === null) {
    return (
      <span className="reveal">
        <button type="button" onClick={reveal} aria-label={`Reveal value${props.versionId ? ` of version ${props.versionId}` : ''}`}>Reveal</button>
        {note && <span role="status" className="muted"> {note}</span>}
      </span>
    );
  }
  return (
    <span className="reveal open">
      <code className="value" data-testid="secret-value">{shown ? value : '•'.repeat(Math.min(24, Math.max(8, value.length)))}</code>
      <button type="button" onClick={() => setShown(!shown)} aria-pressed={shown}>{shown ? 'Mask' : 'Show'}</button>
      <button type="button" onClick={copy}>Copy</button>
      <button type="button" onClick={hide}>Hide</button>
      {note && <span role="status" className="muted"> {note}</span>}
    </span>
  );
}

export function CopyText(props: { text: string; label: string }) {
  const [done, setDone] = useState(false);
  return (
    <span className="copytext">
      <code>{props.text}</code>
      <button type="button" aria-label={`Copy ${props.label}`} onClick={() => navigator.clipboard.writeText(props.text).then(() => setDone(true), () => setDone(false))}>{done ? 'Copied' : 'Copy'}</button>
    </span>
  );
}
