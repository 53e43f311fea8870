import { RANGES, type RangeId } from '../lib/series.js';

export function RangePicker({ value, onChange }: { value: RangeId; onChange: (r: RangeId) => void }) {
  return (
    <div className="seg" role="group" aria-label="Time range">
      {RANGES.map((r) => (
        <button
          key={r.id}
          type="button"
          className={`seg-btn${value === r.id ? ' on' : ''}`}
          aria-pressed={value === r.id}
          data-range={r.id}
          onClick={() => onChange(r.id)}
        >
          {r.label}
        </button>
      ))}
    </div>
  );
}
