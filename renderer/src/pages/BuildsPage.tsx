import { useCallback, useEffect, useRef, useState } from 'react';
import { contract, type EventPayload, type UploadResult } from '../../../shared/contract.js';
import { AppError } from '../../../shared/errors.js';
import { useApi, useApiEvent } from '../api/context.js';
import {
  BuildForm,
  DEFAULT_FORM,
  defaultName,
  formForModel,
  startInput,
  type BuildFormState,
} from '../components/BuildForm.js';
import { BuildList } from '../components/BuildList.js';
import { BuildModelPicker, type PickedModel } from '../components/BuildModelPicker.js';
import { BuildModelSummary } from '../components/BuildModelSummary.js';
import { BuildProgress, type ActiveBuild } from '../components/BuildProgress.js';
import { BuildReportView } from '../components/BuildReportView.js';
import { ErrorNotice } from '../components/ErrorNotice.js';
import { useCall } from '../lib/useCall.js';

/** What the page remembers while the operator is elsewhere: the model, the form, uploaded calibration data. */
const kept: {
  picked: PickedModel | null;
  form: BuildFormState;
  calibration: { key: string; uploadId: string } | null;
} = { picked: null, form: DEFAULT_FORM, calibration: null };

export function buildsHref(buildId?: string | null): string {
  return buildId ? `#/builds/${encodeURIComponent(buildId)}` : '#/builds';
}

interface Early {
  progress?: EventPayload<'job.progress'>;
  recorded?: EventPayload<'build.recorded'>;
  done?: EventPayload<'job.done'>;
}

function filesKey(files: readonly File[]): string {
  return files.map((f) => `${f.name}:${f.size}:${f.lastModified}`).join('|');
}

/**
 * Builds: upload an .onnx, see what it is, pick a target and precision, build (in the console's build worker, with
 * progress and Cancel), read the report and verify the signed artifact; past builds below, each with its report.
 */
export function BuildsPage({ buildId }: { buildId: string | null }) {
  const api = useApi();
  const targetsCall = useCall('targets.list', {}, 'targets');
  const targets = targetsCall.data?.targets ?? [];
  const [listNonce, setListNonce] = useState(0);
  const list = useCall('builds.list', { limit: 200 }, `builds-${listNonce}`);
  const detail = useCall('builds.get', buildId ? { id: buildId } : null, buildId ?? '');

  const [picked, setPicked] = useState<PickedModel | null>(kept.picked);
  const [form, setForm] = useState<BuildFormState>(kept.form);
  useEffect(() => {
    kept.picked = picked;
    kept.form = form;
  }, [picked, form]);

  const [starting, setStarting] = useState<string | null>(null);
  const [startError, setStartErrorState] = useState<{ error: unknown; title: string } | null>(null);
  const setStartError = (error: unknown, title = 'Could not start the build') =>
    setStartErrorState(error === null ? null : { error, title });
  const [notice, setNotice] = useState<string | null>(null);

  // The build this page follows. A ref mirrors it for event handlers that run between renders.
  const [active, setActiveState] = useState<ActiveBuild | null>(null);
  const activeRef = useRef<ActiveBuild | null>(null);
  const setActive = useCallback(
    (next: ActiveBuild | null | ((a: ActiveBuild | null) => ActiveBuild | null)) => {
      const value = typeof next === 'function' ? next(activeRef.current) : next;
      activeRef.current = value;
      setActiveState(value);
    },
    [],
  );
  // Events of a job whose builds.start answer has not arrived yet.
  const early = useRef(new Map<string, Early>());
  const finished = useRef(new Set<string>());
  const stash = (jobId: string, patch: Early) => {
    if (early.current.size > 50) early.current.clear();
    early.current.set(jobId, { ...early.current.get(jobId), ...patch });
  };

  const onProgress = (p: EventPayload<'job.progress'>) => {
    if (p.kind !== 'build') return;
    if (activeRef.current?.jobId === p.jobId) {
      setActive((a) => (a && a.jobId === p.jobId ? { ...a, fraction: p.fraction, message: p.message } : a));
    } else stash(p.jobId, { progress: p });
  };
  const onRecorded = (p: EventPayload<'build.recorded'>) => {
    setListNonce((n) => n + 1);
    if (activeRef.current?.jobId === p.jobId) {
      if (p.record.status === 'succeeded') window.location.hash = buildsHref(p.record.id);
    } else stash(p.jobId, { recorded: p });
  };
  const onDone = (p: EventPayload<'job.done'>) => {
    if (p.kind !== 'build') return;
    finished.current.add(p.jobId);
    if (activeRef.current?.jobId !== p.jobId) {
      stash(p.jobId, { done: p });
      return;
    }
    setActive(null);
    if (!p.ok && p.error) {
      if (p.error.code === 'CANCELLED')
        setNotice('Build cancelled. Nothing was published; the settings are kept.');
      else setStartError(AppError.fromWire(p.error), 'The build failed');
    }
  };
  useApiEvent('job.progress', onProgress);
  useApiEvent('build.recorded', onRecorded);
  useApiEvent('job.done', onDone);

  // Follow a build that is still running when the page opens (started here before, or elsewhere).
  const running = list.data?.running;
  useEffect(() => {
    const r = running?.[0];
    if (!r || activeRef.current || finished.current.has(r.jobId)) return;
    setActive({
      jobId: r.jobId,
      buildId: r.buildId,
      label: `${r.name} ${r.version}`,
      fraction: r.fraction,
      message: r.message,
      startedAt: r.startedAt,
      cancelling: false,
    });
  }, [running, setActive]);

  const follow = (a: ActiveBuild) => {
    setActive(a);
    const e = early.current.get(a.jobId);
    early.current.delete(a.jobId);
    if (e?.progress) onProgress(e.progress);
    if (e?.recorded) onRecorded(e.recorded);
    if (e?.done) onDone(e.done);
  };

  const uploadCalibration = async (files: File[]): Promise<string> => {
    const key = filesKey(files);
    if (kept.calibration?.key === key) return kept.calibration.uploadId;
    let first: UploadResult | null = null;
    for (const [i, f] of files.entries()) {
      setStarting(`Uploading calibration data ${i + 1}/${files.length}: ${f.name}`);
      const res = await api.upload(f, { name: f.name, ...(first ? { uploadId: first.uploadId } : {}) });
      first ??= res;
    }
    if (!first) throw new AppError('BAD_INPUT', 'No calibration files were picked.');
    kept.calibration = { key, uploadId: first.uploadId };
    return first.uploadId;
  };

  const submit = async () => {
    if (!picked || starting) return;
    setStartError(null);
    setNotice(null);
    setStarting('Starting…');
    try {
      let calibrationUpload: string | null = null;
      if (form.calibrationKind === 'upload') {
        if (form.calibrationFiles.length === 0) {
          throw new AppError('BAD_INPUT', 'No calibration images are picked.', {
            hint: 'Choose images (or .npy samples) like the model’s real inputs, or pick another kind of data.',
          });
        }
        calibrationUpload = await uploadCalibration(form.calibrationFiles);
      }
      if (form.calibrationKind === 'path' && form.calibrationPath.trim() === '') {
        throw new AppError('BAD_INPUT', 'The calibration path is empty.', {
          hint: 'Give the full path of a folder of images or .npy files on the machine the console runs on.',
        });
      }
      const input = startInput(
        form,
        { uploadId: picked.upload.uploadId, file: picked.file },
        calibrationUpload,
      );
      // Checked here first: a typo is answered at once, with the field named.
      const parsed = contract['builds.start'].input.safeParse(input);
      if (!parsed.success) throw parsed.error;
      setStarting('Starting…');
      const res = await api.call('builds.start', input);
      follow({
        jobId: res.jobId,
        buildId: res.buildId,
        label: `${input.name ?? defaultName(picked.file)} ${input.version}`,
        fraction: 0,
        message: 'Starting the build worker',
        startedAt: Date.now(),
        cancelling: false,
      });
      setListNonce((n) => n + 1);
    } catch (err) {
      setStartError(err);
    } finally {
      setStarting(null);
    }
  };

  const cancel = async () => {
    const a = activeRef.current;
    if (!a) return;
    setActive((cur) => (cur ? { ...cur, cancelling: true } : cur));
    try {
      const { cancelled } = await api.call('jobs.cancel', { jobId: a.jobId });
      if (!cancelled) setActive((cur) => (cur?.jobId === a.jobId ? null : cur));
    } catch (err) {
      setStartError(err, 'Could not cancel the build');
      setActive((cur) => (cur ? { ...cur, cancelling: false } : cur));
    }
  };

  const onPicked = (m: PickedModel) => {
    setPicked(m);
    setForm((f) => formForModel(f, m.info));
    setStartError(null);
  };

  // Bring a report into view when it is opened from the list or a build finishes.
  const reportRef = useRef<HTMLDivElement>(null);
  const shownId = detail.dataKey === buildId ? buildId : null;
  useEffect(() => {
    if (shownId) reportRef.current?.scrollIntoView({ block: 'start', behavior: 'smooth' });
  }, [shownId]);

  const builds = list.data?.builds ?? [];
  return (
    <div className="page builds-page">
      <header className="page-head">
        <div className="page-title">
          <h1>Builds</h1>
          <span className="page-sub">
            Turn an ONNX model into a signed artifact for a device: FP32, FP16 or INT8, checked against the
            target.
          </span>
        </div>
      </header>

      <div className="builds-top">
        <section className="panel build-model-panel" aria-label="Model">
          <div className="panel-head">
            <h2>Model</h2>
            {picked && <span className="panel-note">{picked.info.producer.name}</span>}
          </div>
          <BuildModelPicker picked={picked} onPicked={onPicked} />
          {picked && <BuildModelSummary info={picked.info} />}
        </section>

        <section className="panel build-settings-panel" aria-label="Build settings">
          <div className="panel-head">
            <h2>Build settings</h2>
          </div>
          {targetsCall.error !== null && (
            <ErrorNotice
              error={targetsCall.error}
              title="Could not load target profiles"
              onRetry={targetsCall.reload}
              compact
            />
          )}
          <BuildForm
            form={form}
            onChange={setForm}
            onSubmit={() => void submit()}
            targets={targets}
            model={picked?.info ?? null}
            busy={starting !== null || active !== null}
            busyLabel={active ? 'Building…' : 'Starting…'}
          />
          {starting && (
            <div className="build-starting muted">
              <span className="spinner" aria-hidden="true" /> {starting}
            </div>
          )}
          {startError !== null && <ErrorNotice error={startError.error} title={startError.title} />}
          {notice && (
            <div className="build-notice" role="status">
              {notice}
            </div>
          )}
          {active && <BuildProgress build={active} onCancel={() => void cancel()} />}
        </section>
      </div>

      <div ref={reportRef} className="report-anchor">
        {buildId &&
          (detail.error !== null && detail.dataKey !== buildId ? (
            <ErrorNotice error={detail.error} title="Could not load that build" onRetry={detail.reload} />
          ) : detail.data && detail.dataKey === buildId ? (
            <BuildReportView
              record={detail.data.record}
              report={detail.data.report}
              reportProblem={detail.data.reportProblem}
              targets={targets}
            />
          ) : (
            <div className="panel">
              <span className="skeleton skeleton-block" />
            </div>
          ))}
      </div>

      <section className="panel" aria-label="Past builds">
        <div className="panel-head">
          <h2>Past builds</h2>
          <span className="panel-note">
            {list.loading && <span className="spinner" aria-label="refreshing" />}
            {builds.length > 0 && `${builds.length} shown, newest first`}
          </span>
        </div>
        {list.error !== null && (
          <ErrorNotice error={list.error} title="Could not load the builds" onRetry={list.reload} compact />
        )}
        {list.data && (
          <BuildList
            builds={builds}
            running={list.data.running.map((r) =>
              active && r.jobId === active.jobId
                ? { ...r, fraction: active.fraction, message: active.message }
                : r,
            )}
            targets={targets}
            selectedId={buildId}
            onOpen={(id) => {
              window.location.hash = buildsHref(id);
            }}
          />
        )}
      </section>
    </div>
  );
}
