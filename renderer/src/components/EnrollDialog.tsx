import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useApi } from '../api/context.js';
import { navigate } from '../lib/router.js';
import { ErrorNotice } from './ErrorNotice.js';

/**
 * Enroll a device agent: the console reaches the agent with the given token, reads its identity and
 * starts collecting. Failures say why (unreachable, token refused, not an agent) and keep the form.
 */
export function EnrollDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const api = useApi();
  const ref = useRef<HTMLDialogElement>(null);
  const [url, setUrl] = useState('');
  const [token, setToken] = useState('');
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { device } = await api.call('fleet.enroll', {
        url: url.trim(),
        token: token.trim(),
        ...(name.trim() ? { name: name.trim() } : {}),
      });
      setUrl('');
      setToken('');
      setName('');
      onClose();
      navigate({ page: 'device', deviceId: device.id });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <dialog ref={ref} className="dialog" onClose={onClose} aria-labelledby="enroll-title">
      <form onSubmit={(e) => void submit(e)} className="dialog-form">
        <h2 id="enroll-title">Enroll a device</h2>
        <p className="muted">
          Run <code>edgectl agent --host 0.0.0.0 --token-file token</code> on the device, then enter its
          address and the token it printed.
        </p>
        <label className="form-field">
          <span>Agent URL</span>
          <input
            name="url"
            required
            placeholder="http://jetson-07.lan:7070"
            value={url}
            onChange={(e) => setUrl(e.target.value)}
            spellCheck={false}
            autoComplete="off"
          />
        </label>
        <label className="form-field">
          <span>Agent token</span>
          <input
            name="token"
            type="password"
            required
            minLength={16}
            value={token}
            onChange={(e) => setToken(e.target.value)}
            autoComplete="off"
          />
        </label>
        <label className="form-field">
          <span>Display name (optional)</span>
          <input name="name" value={name} onChange={(e) => setName(e.target.value)} maxLength={128} />
        </label>
        {error !== null && <ErrorNotice error={error} title="Could not enroll" compact />}
        <div className="dialog-actions">
          <button type="button" className="btn" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? 'Contacting agent…' : 'Enroll'}
          </button>
        </div>
      </form>
    </dialog>
  );
}
