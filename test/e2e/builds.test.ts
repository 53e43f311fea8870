/**
 * The Builds page end to end: `edgectl serve` and headless Chromium. Upload the real PP-OCR direction classifier
 * through the file input, read its summary, build it to static INT8 for x86-64 with generated calibration data,
 * follow the progress, read the report, verify the signed artifact. Screenshots land in test-results/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REAL_MODELS } from '../../models/onnx/testing.js';
import {
  launchBrowser,
  e2eSkipReason,
  screenshotPath,
  startConsole,
  type BrowserSession,
  type ConsoleServer,
} from './harness.js';

const skipReason = e2eSkipReason();

describe.skipIf(skipReason !== null)('Builds page in Chromium', () => {
  let srv: ConsoleServer;
  let b: BrowserSession;

  beforeAll(async () => {
    srv = await startConsole([]);
    b = await launchBrowser({ width: 1440, height: 1000 });
  }, 90_000);

  afterAll(async () => {
    await b?.close();
    await srv?.stop();
  });

  it('uploads a model, builds INT8 with progress, shows the report and verifies the artifact', async () => {
    const { page } = b;
    await page.goto(srv.url);
    await page.getByRole('link', { name: 'Builds' }).click();
    await page.waitForURL(/#\/builds$/);
    await page.getByText('Drop an .onnx model here').waitFor({ timeout: 15_000 });

    // Upload through the file input; the summary shows the model's interface.
    await page.locator('[data-testid="model-file-input"]').setInputFiles(REAL_MODELS.cls);
    const summary = page.locator('[data-testid="model-summary"]');
    await summary.waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('model-file-name').textContent()).toBe(
      'ch_ppocr_mobile_v2.0_cls_infer.onnx',
    );
    expect(await page.getByTestId('model-opset').textContent()).toBe('9');
    const inputShape = await page.getByTestId('inputs-shape').first().textContent();
    expect(inputShape).toMatch(/^\[.+, 3, .+, .+\]/);
    expect(await summary.textContent()).toContain('float32');

    // Settings: x86-64 CPU, static INT8, generated OCR lines, 8 samples.
    await page.getByTestId('target-select').selectOption('cpu-x86_64');
    await page.locator('[data-precision="int8"]').click();
    await page.locator('[data-mode="static"]').click();
    await page.locator('[data-calibration="generated"]').click();
    await page.getByRole('combobox', { name: 'Generated data' }).selectOption('ocr-lines');
    await page.locator('input[name="samples"]').fill('8');
    await page.locator('input[name="name"]').fill('cls-e2e');
    // Accuracy-aware mode: the budget brings up the choice of what to keep float first.
    await page.locator('input[name="accuracyBudget"]').fill('0.99');
    await page.locator('select[name="sensitivity"]').waitFor();
    // CPU target: how the layers kept float store their weights.
    await page.locator('select[name="floatWeights"]').selectOption('float16');
    // ... and whether to time each int8 group against float on this machine (on by default).
    expect(await page.locator('select[name="speedPass"]').inputValue()).toBe('on');
    await page.screenshot({ path: screenshotPath('e2e-builds-form') });

    // Build: the progress panel shows (with a stage message), then the report replaces it.
    await page.getByTestId('build-button').click();
    const progress = page.getByTestId('build-progress');
    await progress.waitFor({ timeout: 15_000 });
    expect(await page.getByTestId('build-stage').textContent()).not.toBe('');
    await page.screenshot({ path: screenshotPath('e2e-builds-progress') }).catch(() => undefined);

    const report = page.getByTestId('build-report');
    await report.waitFor({ timeout: 60_000 });
    await page.waitForURL(/#\/builds\/[0-9a-f-]{36}$/);
    await progress.waitFor({ state: 'detached', timeout: 10_000 });
    expect(Number(await page.getByTestId('kpi-quantized').textContent())).toBeGreaterThan(0);
    expect(await page.getByTestId('compat-verdict').textContent()).toMatch(/Compatible with CPU \(x86-64/);
    expect(await page.getByTestId('kpi-agreement').textContent()).toMatch(/^\d\.\d+$/);
    expect(await page.getByTestId('check-result').textContent()).toMatch(/Cosine/);
    expect(await page.getByTestId('kpi-size').textContent()).toMatch(/^×0\.\d+$/);
    expect(await page.getByTestId('sqnr-table').locator('tbody tr').count()).toBeGreaterThan(0);
    // Kept float: one chip per reason, with its count; a chip filters the table to those nodes.
    const keptRows = page.getByTestId('kept-float-table').locator('tbody tr');
    const allKept = await keptRows.count();
    const depthwise = page.locator('[data-kept-kind="depthwise"]');
    const depthwiseCount = Number(await depthwise.locator('.chip-count').textContent());
    expect(depthwiseCount).toBeGreaterThan(0);
    expect(depthwiseCount).toBeLessThan(allKept);
    await depthwise.click();
    expect(await keptRows.count()).toBe(depthwiseCount);
    expect(await keptRows.first().textContent()).toContain('depthwise convolution');
    await depthwise.click();
    expect(await keptRows.count()).toBe(allKept);
    expect(await page.getByTestId('float-weights').textContent()).toMatch(
      /stored as float16 \(\d+ tensors\)/,
    );
    expect(await page.getByTestId('speed-pass').textContent()).toMatch(
      /speed pass: \d+ int8 groups? profiled(, \d+ timed,)? in [\d.]+ s/,
    );
    expect(await page.getByTestId('artifact-path').textContent()).toContain('cls-e2e-0.1.0-cpu-x86_64-int8');

    // The signed artifact verifies with the console's key.
    await page.getByTestId('verify-button').click();
    const verified = page.getByTestId('verify-result');
    await verified.waitFor({ timeout: 15_000 });
    expect(await verified.textContent()).toMatch(/^OK/);

    // The build is in the list of past builds.
    const row = page.locator('[data-testid="build-list"] .build-row[data-status="succeeded"]');
    await row.first().waitFor({ timeout: 10_000 });
    expect(await row.first().textContent()).toContain('cls-e2e');
    // The page scrolls inside <main>: a tall viewport shows the whole report in one picture.
    await page.setViewportSize({ width: 1440, height: 2600 });
    await page.evaluate(() => document.querySelector('.main')?.scrollTo(0, 0));
    await page.screenshot({ path: screenshotPath('e2e-builds-report') });
    await page.setViewportSize({ width: 1440, height: 1000 });
  }, 90_000);

  it('explains a file that is not a model and keeps the picked model and the form', async () => {
    const { page } = b;
    await page.locator('[data-testid="model-file-input"]').setInputFiles({
      name: 'notes.onnx',
      mimeType: 'application/octet-stream',
      buffer: Buffer.from('These are notes, not a model.\n'.repeat(20)),
    });
    const notice = page.locator('.build-picker .error-notice');
    await notice.waitFor({ timeout: 15_000 });
    expect(await notice.getAttribute('data-error-code')).toBe('MODEL_MALFORMED');
    expect(await notice.locator('.error-notice-hint').textContent()).not.toBe('');
    // Nothing is lost: the model picked before and the settings are still there.
    expect(await page.getByTestId('model-file-name').textContent()).toBe(
      'ch_ppocr_mobile_v2.0_cls_infer.onnx',
    );
    expect(await page.locator('input[name="samples"]').inputValue()).toBe('8');
    expect(await page.locator('input[name="name"]').inputValue()).toBe('cls-e2e');

    // The same name + version again is refused before anything runs, with a hint.
    await page.getByTestId('build-button').click();
    const refused = page.locator('.build-settings-panel .error-notice');
    await refused.waitFor({ timeout: 15_000 });
    expect(await refused.getAttribute('data-error-code')).toBe('CONFLICT');
    expect(await refused.textContent()).toMatch(/Bump the version/);
    await page.screenshot({ path: screenshotPath('e2e-builds-errors') });
  }, 60_000);

  it('builds for the Coral Edge TPU: the report shows the exported TFLite model and its run in TensorFlow Lite', async () => {
    const { page } = b;
    // The model and the settings are still in the form; switch the target.
    await page.getByTestId('target-select').selectOption('coral-edgetpu');
    // Full integer: static only, and no accuracy budget (a float layer would split the model onto the CPU).
    expect(await page.locator('[data-mode="dynamic"]').count()).toBe(0);
    expect(await page.locator('input[name="accuracyBudget"]').count()).toBe(0);
    await page.locator('input[name="name"]').fill('cls-coral-e2e');
    await page.getByTestId('build-button').click();
    const section = page.getByTestId('tflite-export');
    await section.waitFor({ timeout: 60_000 });
    expect(await section.textContent()).toMatch(/full integer/);
    expect(await section.textContent()).toMatch(/model\.tflite/);
    expect(await section.textContent()).toMatch(/Input x 1×48×192×3 \(NHWC\)/);
    expect(await section.locator('tbody tr').allTextContents()).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^CONV_2D\d+$/),
        expect.stringMatching(/^DEPTHWISE_CONV_2D\d+$/),
      ]),
    );
    const check = await page.getByTestId('tflite-check').textContent();
    expect(Number(/cosine\s*([\d.]+)/.exec(check ?? '')?.[1])).toBeGreaterThan(0.99);
    expect(await page.getByTestId('compat-verdict').textContent()).toMatch(/Compatible with Google Coral/);
    expect(await page.getByTestId('compile-message').textContent()).toMatch(
      /edgetpu_compiler -s model\.tflite/,
    );
    await page.setViewportSize({ width: 1440, height: 2600 });
    await page.evaluate(() => document.querySelector('.main')?.scrollTo(0, 0));
    await page.screenshot({ path: screenshotPath('e2e-builds-coral') });
    await page.setViewportSize({ width: 1440, height: 1000 });
  }, 90_000);

  it('splits a model the TFLite export cannot take whole: the Edge TPU part and an ONNX tail, checked together', async () => {
    const { page } = b;
    // The PP-OCRv4 recognizer: a CNN backbone, then an SVTR neck (LayerNorm, attention) the Edge TPU cannot run.
    await page.locator('[data-testid="model-file-input"]').setInputFiles(REAL_MODELS.rec);
    await page
      .getByTestId('model-file-name')
      .getByText('ch_PP-OCRv4_rec_infer.onnx')
      .waitFor({ timeout: 30_000 });
    await page.getByTestId('target-select').selectOption('coral-edgetpu');
    await page.locator('[data-calibration="generated"]').click();
    await page.getByRole('combobox', { name: 'Generated data' }).selectOption('ocr-lines');
    await page.locator('input[name="samples"]').fill('6');
    await page.locator('input[name="name"]').fill('rec-coral-e2e');
    await page.getByTestId('build-button').click();
    const split = page.getByTestId('tflite-split');
    await split.waitFor({ timeout: 120_000 });
    expect(await split.textContent()).toMatch(
      /Exported up to p2o\.Transpose\.0 \(Transpose\).*The rest, \d+ nodes, ships as model_tail\.onnx/,
    );
    const check = await page.getByTestId('tflite-check').textContent();
    expect(check).toMatch(/In TensorFlow Lite \+ model_tail\.onnx in onnxruntime: cosine/);
    expect(Number(/cosine\s*([\d.]+)/.exec(check ?? '')?.[1])).toBeGreaterThan(0.9);
    // The compatibility report's partition says where the build cut the model.
    expect(await page.getByTestId('build-report').textContent()).toMatch(
      /The build cuts the model there: model\.tflite holds the Edge TPU part, model_tail\.onnx the rest/,
    );
    await split.scrollIntoViewIfNeeded();
    await page.screenshot({ path: screenshotPath('e2e-builds-coral-split') });
  }, 150_000);

  it('ran without page errors or CSP violations', () => {
    // 400 (the file that is not a model) and 409 (the repeated version) are answers the tests asked for.
    const problems = b.problems.filter((p) => !/status of (400|409)/.test(p));
    expect(problems).toEqual([]);
  });
});
