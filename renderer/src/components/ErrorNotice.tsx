import { toWireError } from '../../../shared/errors.js';
import { ErrorIcon } from './Icons.js';

/** Any failure as the operator should see it: what happened (code + message) and what to do (hint). */
export function ErrorNotice({
  error,
  title,
  onRetry,
  compact = false,
}: {
  error: unknown;
  title?: string;
  onRetry?: () => void;
  compact?: boolean;
}) {
  const w = toWireError(error);
  return (
    <div className={`error-notice${compact ? ' compact' : ''}`} role="alert" data-error-code={w.code}>
      <ErrorIcon size={compact ? 14 : 18} className="error-notice-icon" />
      <div className="error-notice-body">
        <div className="error-notice-title">
          {title ?? 'Something went wrong'} <code className="error-code">{w.code}</code>
        </div>
        <div className="error-notice-message">{w.message}</div>
        {w.hint && <div className="error-notice-hint">{w.hint}</div>}
      </div>
      {onRetry && (
        <button type="button" className="btn" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}
