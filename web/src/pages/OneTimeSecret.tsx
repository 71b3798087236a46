// A credential the server shows once (a new token, an AWS secret key): masked until "Show",
// copyable, and dropped from the DOM and from the owner's state on "Close". It is never put in a
// URL, a console line or an error.
import { useEffect, useId, useRef, useState } from 'react';

export function OneTimeSecret(props: { title: string; value: string; onClose: () => void; children?: React.ReactNode }) {
  const [shown, setShown] = useState(false);
  const [note, setNote] = useState('');
  const copyButton = useRef<HTMLButtonElement>(null);
  const titleId = useId();
  // Keyboard users land on Copy, the one thing to do now.
  useEffect(() => copyButton.current?.focus(), []);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.value);
      setNote('copied');
    } catch {
      setNote('the browser refused the clipboard');
    }
  };
  return (
    <div className="card once" role="dialog" aria-modal="false" aria-labelledby={titleId} onKeyDown={(e) => e.key === 'Escape' && props.onClose()}>
      <h3 id={titleId}>{props.title}</h3>
      <p>Shown once: copy it now. It is gone when you close this.</p>
      {props.children}
      <span className="reveal open">
        <code className="value" data-testid="once-value">{shown ? props.value : '•'.repeat(24)}</code>
        <button type="button" onClick={() => setShown(!shown)} aria-pressed={shown}>{shown ? 'Mask' : 'Show'}</button>
        <button type="button" ref={copyButton} onClick={copy}>Copy</button>
        <button type="button" onClick={props.onClose}>Close</button>
        {note && <span role="status" className="muted"> {note}</span>}
      </span>
    </div>
  );
}
