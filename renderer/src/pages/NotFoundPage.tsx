import { hrefFor } from '../lib/router.js';

export function NotFoundPage({ path }: { path: string }) {
  return (
    <div className="page">
      <div className="center-state">
        <div className="empty-state">
          <div className="empty-title">Nothing at {path}</div>
          <div className="empty-hint">
            <a href={hrefFor({ page: 'fleet' })}>Go to the fleet</a>
          </div>
        </div>
      </div>
    </div>
  );
}
