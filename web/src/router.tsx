// A tiny history router: pages live under /ui/, which the server answers with index.html.
import { useEffect, useState } from 'react';

export function navigate(to: string): void {
  window.history.pushState(null, '', to);
  window.dispatchEvent(new Event('custos:navigate'));
}

export function usePath(): string {
  const [path, setPath] = useState(window.location.pathname);
  useEffect(() => {
    const update = () => setPath(window.location.pathname);
    window.addEventListener('popstate', update);
    window.addEventListener('custos:navigate', update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener('custos:navigate', update);
    };
  }, []);
  return path;
}

export function Link(props: { to: string; children: React.ReactNode; className?: string }) {
  return (
    <a href={props.to} className={props.className} onClick={(e) => {
      if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
      e.preventDefault();
      navigate(props.to);
    }}>{props.children}</a>
  );
}
