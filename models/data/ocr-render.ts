/**
 * Generated OCR samples, deterministic by seed: single text lines (for the recognizer and the direction classifier)
 * and pages with several lines and their boxes (for the detector). They are what quantization calibrates on and
 * what the benchmark scores recognition with when a user has no data of their own, so they are made to be legible:
 * common words and characters only (all in PP-OCR's ppocr_keys_v1.txt), dark text on light backgrounds, lines no
 * wider than the rec input's 320/48 aspect ratio.
 *
 * Sample i of a seed does not depend on any other sample: renderTextLine(seed, i) can be called in any order, and
 * the generators render one sample per step (nothing is precomputed).
 */
import { createCanvas, GlobalFonts, type SKRSContext2D } from '@napi-rs/canvas';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { AppError } from '../../shared/errors.js';
import { mulberry32 } from '../../shared/rng.js';

export interface RenderedImage {
  width: number;
  height: number;
  /** RGBA, row-major. */
  data: Uint8ClampedArray;
}

export type LineScript = 'latin' | 'numeric' | 'chinese' | 'mixed';

export interface RenderedLine {
  text: string;
  script: LineScript;
  /** The font family it was drawn in. */
  font: string;
  image: RenderedImage;
}

export interface TextBox {
  /** Tight box around the drawn glyphs, in page pixels. */
  x: number;
  y: number;
  w: number;
  h: number;
  text: string;
}

export interface RenderedPage {
  image: RenderedImage;
  boxes: TextBox[];
}

// ---------------------------------------------------------------------------------------------------------------
// Fonts

interface FontFile {
  family: string;
  pkg: string;
  file: string;
  cjk: boolean;
}

const FONT_FILES: readonly FontFile[] = [
  { family: 'EC DejaVu Sans', pkg: 'dejavu-fonts-ttf', file: 'ttf/DejaVuSans.ttf', cjk: false },
  { family: 'EC DejaVu Serif', pkg: 'dejavu-fonts-ttf', file: 'ttf/DejaVuSerif.ttf', cjk: false },
  { family: 'EC DejaVu Sans Mono', pkg: 'dejavu-fonts-ttf', file: 'ttf/DejaVuSansMono.ttf', cjk: false },
  { family: 'EC DejaVu Sans Bold', pkg: 'dejavu-fonts-ttf', file: 'ttf/DejaVuSans-Bold.ttf', cjk: false },
  {
    family: 'EC Noto Sans SC',
    pkg: '@expo-google-fonts/noto-sans-sc',
    file: '400Regular/NotoSansSC_400Regular.ttf',
    cjk: true,
  },
  {
    family: 'EC Noto Sans SC Bold',
    pkg: '@expo-google-fonts/noto-sans-sc',
    file: '700Bold/NotoSansSC_700Bold.ttf',
    cjk: true,
  },
];

const LATIN_FONTS = FONT_FILES.map((f) => f.family);
const CJK_FONTS = FONT_FILES.filter((f) => f.cjk).map((f) => f.family);

let registered: Record<string, string> | undefined;

/** Family → font file of the fonts samples are drawn in; registers them with the canvas on first use. */
export function ocrFonts(): Record<string, string> {
  if (registered) return registered;
  const require = createRequire(import.meta.url);
  const out: Record<string, string> = {};
  for (const f of FONT_FILES) {
    let file: string | undefined;
    try {
      file = path.join(path.dirname(require.resolve(`${f.pkg}/package.json`)), f.file);
    } catch {
      file = undefined;
    }
    if (file === undefined || !existsSync(file)) {
      throw new AppError(
        'ENVIRONMENT',
        `Generated OCR samples need the font ${f.file} from ${f.pkg}, which is not installed.`,
        {
          hint: `The fonts are devDependencies: run npm install in a source checkout (or install ${f.pkg}), or calibrate with a folder of your own images instead of a gen: spec.`,
        },
      );
    }
    if (!GlobalFonts.registerFromPath(file, f.family)) {
      throw new AppError('ENVIRONMENT', `The canvas could not load the font ${file}.`, {
        hint: 'Reinstall the font package; the file may be damaged.',
      });
    }
    out[f.family] = file;
  }
  registered = out;
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Randomness

/** A seed for sample `index` of `seed` in stream `salt`, independent of every other sample. */
function mix(seed: number, index: number, salt: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 0x632be5ab, 0xc2b2ae35) ^ salt;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

class Rng {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  range(lo: number, hi: number): number {
    return lo + this.next() * (hi - lo);
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Text. Every character here is in ppocr_keys_v1.txt (the tests check it); the space is the model's extra class.

const EN_WORDS = (
  'the and for you with this that from your have more will home about page search free other information time ' +
  'they site what which their news there only when contact here business also help view online first been ' +
  'would were services some these click like service than find price date back people list name just over ' +
  'state year into email health world next used work last most products music data make them should product ' +
  'system post city policy number such please available copyright support message after best software then ' +
  'good video well where info rights public books high school through each links review years order very ' +
  'privacy book items company read group need many user said does under general research university january ' +
  'mail full map reviews program life know games days management part could great united hotel real item ' +
  'international center store travel comments made development report member details line terms before ' +
  'hotels send right type because local those using results office education national design take posted ' +
  'internet address community within states area want phone shipping reserved subject between forum family ' +
  'long based code show even black check special prices website index being women much sign file link open ' +
  'today technology south case project same pages version section found sports house related security both ' +
  'county american photo game members power while care network down computer systems three total place ' +
  'following download without access think north resources current posts media control water history ' +
  'pictures size personal since including guide shop directory board location change white text small rating ' +
  'rate government children during return students shopping account times sites level digital profile ' +
  'previous form events love main call hours image department title description insurance another shall ' +
  'property class still money quality every listing content country private little visit save tools reply ' +
  'customer december compare movies include college value article york provide source author different press ' +
  'learn sale around print course canada process stock training credit point join science men categories ' +
  'advanced west sales look english left team estate box conditions select windows photos thread week ' +
  'category note live large gallery table register however june october november market library really action ' +
  'start series model features industry plan human provided required second hot accessories cost movie forums ' +
  'march september better'
).split(' ');

const CN_WORDS = (
  '中国 北京 上海 广州 深圳 杭州 南京 天津 重庆 成都 武汉 西安 公司 时间 价格 市场 经济 发展 工作 学习 学生 老师 ' +
  '医院 银行 超市 电话 地址 服务 产品 质量 安全 管理 技术 科学 文化 教育 历史 城市 交通 天气 今天 明天 昨天 朋友 ' +
  '家庭 生活 世界 人民 政府 国家 社会 问题 方法 计划 项目 系统 数据 信息 网络 手机 电脑 软件 设计 开发 测试 模型 ' +
  '识别 文字 图片 视频 会议 报告 通知 欢迎 光临 营业 出口 入口 停车场 禁止 吸烟 注意 小心 请勿 打扰 谢谢 您好 ' +
  '早上 晚上 中午 周末 假期 旅游 酒店 餐厅 饭店 咖啡 茶叶 牛奶 面包 水果 蔬菜 米饭 面条 饺子 鸡蛋 苹果 香蕉 西瓜 ' +
  '商店 购物 优惠 折扣 免费 会员 积分 订单 发票 收据 金额 合计 总计 单价 数量 日期 编号 姓名 性别 年龄 地铁 公交 ' +
  '火车 飞机 机场 车站 大学 中学 小学 图书馆 博物馆 公园 广场 大厦 中心 路口 街道 小区 办公室 会议室 洗手间 电梯 ' +
  '楼梯 安全出口 消防 通道 出租 汽车 自行车 司机 乘客 票价 检票 候车 登机 航班 起飞 到达 延误 取消 快递 包裹 邮政 ' +
  '邮编 客服 热线 投诉 建议 意见 满意 保证 正品 新品 上市 限时 特价 热卖 推荐 品牌 工厂 生产 保质期 说明书 使用 ' +
  '事项 温度 湿度 风速 晴天 多云 下雨 下雪 春天 夏天 秋天 冬天 东方 西方 南方 北方 左边 右边 前面 后面 上面 下面 ' +
  '里面 外面 开始 结束 完成 成功 失败 错误 正确 确定 返回 登录 注册 密码 用户 账号 设置 帮助 关于 首页 新闻 体育 ' +
  '娱乐 财经 科技 健康 房产 游戏 音乐 电影 读书 写作 语言 中文 英语 数学 物理 化学 生物 地理 美术 工程师 医生 护士 ' +
  '律师 经理 主任 部门 员工 工资 合同 签字 盖章 审批 同意 人工智能 机器学习 深度学习 边缘计算 量化 推理 加速 部署 ' +
  '设备 传感器 摄像头 网关 服务器 电源 电池 充电 信号 连接 断开 在线 离线 正常 异常 报警 故障 维修 升级 版本 更新 ' +
  '下载 上传 文件 目录 保存 删除 复制 粘贴 打印 扫描 春节 快乐 新年 中秋 国庆 节日 生日 祝福 恭喜 发财 万事 如意 ' +
  '身体 顺利 进步'
).split(' ');

/** Units and short words that follow a number in Chinese text. */
const CN_UNITS = '元 个 件 公斤 米 号 楼 层 人 次 天 小时 分钟 公里 台 张 页 岁 月 年'.split(' ');
const LATIN_TERMS =
  'USB WiFi CPU GPU GPS APP VIP CEO AI ID NFC LED PDF OK Email iPhone Android Linux ONNX'.split(' ');
const MONTHS = 'Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec'.split(' ');
/** Code characters without the ambiguous O/0, I/1/l pairs. */
const CODE_CHARS = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';

function casing(rng: Rng, word: string): string {
  const r = rng.next();
  if (r < 0.5) return word;
  if (r < 0.85) return word[0]!.toUpperCase() + word.slice(1);
  return word.toUpperCase();
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** The shortest line the generators emit, in characters. */
const MIN_CHARS = 4;

function latinText(rng: Rng, maxWords: number): string[] {
  const n = rng.int(1, maxWords);
  const words: string[] = [];
  const style = rng.next();
  // At least n words and 4 letters: a lone "the" says little about a recognizer.
  for (let i = 0; i < n || words.join('').length < MIN_CHARS; i++) {
    const w = rng.pick(EN_WORDS);
    // Title Case, sentence case, all lower or ALL CAPS for the whole line: how text shows up on labels and signs.
    words.push(
      style < 0.3
        ? casing(rng, w)
        : style < 0.55
          ? w[0]!.toUpperCase() + w.slice(1)
          : style < 0.8
            ? i === 0
              ? w[0]!.toUpperCase() + w.slice(1)
              : w
            : style < 0.9
              ? w
              : w.toUpperCase(),
    );
  }
  return words;
}

function numericText(rng: Rng): string {
  const y = rng.int(1990, 2035);
  const mo = rng.int(1, 12);
  const d = rng.int(1, 28);
  switch (rng.int(0, 9)) {
    case 0:
      return `${y}-${pad2(mo)}-${pad2(d)}`;
    case 1:
      return `${y}/${pad2(mo)}/${pad2(d)}`;
    case 2:
      return `${pad2(rng.int(0, 23))}:${pad2(rng.int(0, 59))}${rng.chance(0.4) ? `:${pad2(rng.int(0, 59))}` : ''}`;
    case 3:
      return `$${rng.int(1, 9999)}.${pad2(rng.int(0, 99))}`;
    case 4:
      return `${rng.int(0, 99)}.${rng.int(0, 9)}%`;
    case 5:
      return `${rng.int(130, 189)}-${String(rng.int(0, 9999)).padStart(4, '0')}-${String(rng.int(0, 9999)).padStart(4, '0')}`;
    case 6:
      return `No.${rng.int(10, 99999)}`;
    case 7:
      return `${MONTHS[mo - 1]} ${d}, ${y}`;
    case 8: {
      let code = '';
      for (let i = rng.int(4, 8); i > 0; i--) code += rng.pick([...CODE_CHARS]);
      return code;
    }
    default:
      return `${rng.int(1, 999)},${String(rng.int(0, 999)).padStart(3, '0')}`;
  }
}

function chineseText(rng: Rng, maxWords: number): string[] {
  const n = rng.int(1, maxWords);
  const words: string[] = [];
  for (let i = 0; i < n || words.join('').length < MIN_CHARS; i++) words.push(rng.pick(CN_WORDS));
  return words;
}

function mixedText(rng: Rng): string {
  switch (rng.int(0, 5)) {
    case 0:
      return `${rng.pick(CN_WORDS)}${rng.int(1, 999)}${rng.pick(CN_UNITS)}`;
    case 1:
      return `${rng.pick(LATIN_TERMS)}${rng.pick(CN_WORDS)}`;
    case 2:
      return `${rng.int(1990, 2035)}年${rng.int(1, 12)}月${rng.int(1, 28)}日`;
    case 3:
      return `第${rng.int(1, 99)}${rng.pick(['章', '页', '号', '期', '名'])}${rng.pick(CN_WORDS)}`;
    case 4:
      return `${rng.pick(CN_WORDS)}${rng.pick(LATIN_TERMS)}${rng.pick(CN_WORDS)}`;
    default:
      // The full-width yuan sign: the one PP-OCR reads in Chinese text (never the look-alike U+00A5).
      return `${rng.pick(CN_WORDS)}${rng.pick(['￥', ''])}${rng.int(1, 9999)}.${pad2(rng.int(0, 99))}`;
  }
}

interface TextChoice {
  script: LineScript;
  /** Tokens to join; the last ones are dropped while the line is too wide. */
  tokens: string[];
  sep: string;
}

function chooseText(rng: Rng, long: boolean): TextChoice {
  const r = rng.next();
  if (r < 0.25) return { script: 'latin', tokens: latinText(rng, long ? 5 : 3), sep: ' ' };
  if (r < 0.45) {
    const tokens = [numericText(rng)];
    if (long && rng.chance(0.5)) tokens.push(numericText(rng));
    return { script: 'numeric', tokens, sep: ' ' };
  }
  if (r < 0.75) return { script: 'chinese', tokens: chineseText(rng, long ? 5 : 3), sep: '' };
  const tokens = [mixedText(rng)];
  if (long && rng.chance(0.5)) tokens.push(rng.pick(CN_WORDS));
  return { script: 'mixed', tokens, sep: '' };
}

// ---------------------------------------------------------------------------------------------------------------
// Drawing

function fontFor(rng: Rng, script: LineScript): string {
  return script === 'latin' || script === 'numeric' ? rng.pick(LATIN_FONTS) : rng.pick(CJK_FONTS);
}

const css = (size: number, family: string): string => `${size}px "${family}"`;

interface Ink {
  /** Glyph ink relative to the pen position and baseline: left of it, right of it, above it, below it. */
  left: number;
  right: number;
  asc: number;
  desc: number;
  /** Advance width. */
  advance: number;
}

/**
 * Where the ink of `text` lies, found by drawing it: measureText's actualBoundingBox* covers only the first run of
 * a mixed-script string in @napi-rs/canvas ("GPU在线" measures as "GPU"), which would clip lines and shrink boxes.
 */
function inkOf(text: string, font: string, size: number): Ink {
  const advance = measureCtx(font).measureText(text).width;
  const pad = Math.ceil(size);
  const w = Math.ceil(advance) + 2 * pad;
  const h = Math.ceil(size * 3);
  const baseline = Math.round(size * 2);
  const ctx = createCanvas(w, h).getContext('2d');
  ctx.font = font;
  ctx.fillStyle = '#000';
  ctx.fillText(text, pad, baseline);
  const a = ctx.getImageData(0, 0, w, h).data;
  let x0 = w;
  let x1 = -1;
  let y0 = h;
  let y1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0, p = y * w * 4 + 3; x < w; x++, p += 4) {
      if (a[p]! > 24) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) return { left: 0, right: advance, asc: 0, desc: 0, advance };
  return { left: pad - x0, right: x1 + 1 - pad, asc: baseline - y0, desc: y1 + 1 - baseline, advance };
}

/** A line's extent: its own ink, and the font's tall and deep letters so that baselines agree across lines. */
function extent(
  text: string,
  font: string,
  size: number,
): { asc: number; desc: number; width: number; left: number } {
  const ink = inkOf(text, font, size);
  const ref = measureCtx(font).measureText('Hgjy');
  const left = Math.max(0, ink.left);
  return {
    asc: Math.max(ink.asc, ref.actualBoundingBoxAscent),
    desc: Math.max(ink.desc, ref.actualBoundingBoxDescent),
    width: left + Math.max(ink.right, ink.advance),
    left,
  };
}

function gray(v: number): string {
  const c = Math.max(0, Math.min(255, Math.round(v)));
  return `rgb(${c},${c},${c})`;
}

/** Mild per-pixel noise (same on R, G and B). */
function addNoise(data: Uint8ClampedArray, rng: Rng, amplitude: number): void {
  if (amplitude <= 0) return;
  for (let p = 0; p < data.length; p += 4) {
    const n = (rng.next() + rng.next() - 1) * amplitude;
    data[p] = data[p]! + n;
    data[p + 1] = data[p + 1]! + n;
    data[p + 2] = data[p + 2]! + n;
  }
}

let scratch: SKRSContext2D | undefined;
function measureCtx(font: string): SKRSContext2D {
  scratch ??= createCanvas(8, 8).getContext('2d');
  scratch.font = font;
  return scratch;
}

const LINE_SALT = 0x11ce;
const PAGE_SALT = 0x9a6e;

/** The rec model's input aspect: a line wider than this is squeezed by PP-OCR's preprocessing. */
const MAX_ASPECT = 320 / 48;

/** Line `index` of `seed`, `height` pixels tall (any order, any time: it depends on nothing else). */
export function renderTextLine(seed: number, index: number, height = 48): RenderedLine {
  ocrFonts();
  const rng = new Rng(mix(seed, index, LINE_SALT));
  const choice = chooseText(rng, false);
  const family = fontFor(rng, choice.script);
  let size = Math.round(height * rng.range(0.56, 0.72));
  const padL = rng.int(2, Math.max(2, Math.round(height * 0.1)));
  const padR = rng.int(2, Math.max(2, Math.round(height * 0.1)));
  const tokens = [...choice.tokens];
  let text = tokens.join(choice.sep);
  let ext = extent(text, css(size, family), size);
  const maxText = height * MAX_ASPECT - padL - padR;
  while (ext.width > maxText && tokens.length > 1) {
    tokens.pop();
    text = tokens.join(choice.sep);
    ext = extent(text, css(size, family), size);
  }
  if (ext.width > maxText) {
    size = Math.max(8, Math.floor((size * maxText) / ext.width));
    ext = extent(text, css(size, family), size);
  }
  const width = Math.max(Math.ceil(padL + ext.width + padR), Math.round(height / 2));
  const canvas = createCanvas(width, height);
  const c = canvas.getContext('2d');
  const bg = rng.range(200, 255);
  const fg = rng.range(0, 70);
  c.fillStyle = gray(bg);
  c.fillRect(0, 0, width, height);
  c.font = css(size, family);
  c.fillStyle = gray(fg);
  const slack = height - ext.asc - ext.desc;
  const jitter = Math.min(2, Math.max(0, slack / 2 - 1));
  const baseline = slack / 2 + ext.asc + rng.range(-jitter, jitter);
  c.fillText(text, padL + ext.left, baseline);
  const img = c.getImageData(0, 0, width, height);
  addNoise(img.data, rng, rng.chance(0.5) ? rng.range(2, 12) : 0);
  return { text, script: choice.script, font: family, image: { width, height, data: img.data } };
}

/** `count` generated text lines, rendered one per step of the iteration. */
export function* renderTextLines(opts: {
  count: number;
  seed?: number;
  height?: number;
  /** Index of the first line (to resume or shard). */
  start?: number;
}): Generator<RenderedLine, void, undefined> {
  const start = opts.start ?? 0;
  for (let i = 0; i < opts.count; i++) yield renderTextLine(opts.seed ?? 0, start + i, opts.height ?? 48);
}

/** Page `index` of `seed`: several lines of text at different sizes and positions, with their boxes. */
export function renderTextPage(seed: number, index: number, width = 640, height = 640): RenderedPage {
  ocrFonts();
  const rng = new Rng(mix(seed, index, PAGE_SALT));
  const canvas = createCanvas(width, height);
  const c = canvas.getContext('2d');
  c.fillStyle = gray(rng.range(205, 255));
  c.fillRect(0, 0, width, height);
  const margin = Math.round(Math.min(width, height) * 0.05);
  const boxes: TextBox[] = [];
  const minSize = Math.max(12, Math.round(Math.min(width, height) / 36));
  const maxSize = Math.max(minSize, Math.round(Math.min(width, height) / 16));
  let y = margin + rng.int(0, margin);
  for (;;) {
    const size = rng.int(minSize, maxSize);
    const choice = chooseText(rng, true);
    const family = fontFor(rng, choice.script);
    const font = css(size, family);
    const tokens = [...choice.tokens];
    let text = tokens.join(choice.sep);
    let ink = inkOf(text, font, size);
    const maxW = width - 2 * margin;
    const span = (i: Ink): number => Math.max(i.advance, i.right) + Math.max(0, i.left);
    while (span(ink) > maxW && tokens.length > 1) {
      tokens.pop();
      text = tokens.join(choice.sep);
      ink = inkOf(text, font, size);
    }
    if (span(ink) > maxW || y + ink.asc + ink.desc > height - margin) break;
    const x = margin + Math.max(0, ink.left) + rng.int(0, Math.max(0, Math.floor(maxW - span(ink))));
    const baseline = y + ink.asc;
    c.font = font;
    c.fillStyle = gray(rng.range(0, 80));
    c.fillText(text, x, baseline);
    const x0 = Math.floor(x - ink.left);
    const x1 = Math.ceil(x + ink.right);
    const y0 = Math.floor(baseline - ink.asc);
    const y1 = Math.ceil(baseline + ink.desc);
    boxes.push({ x: x0, y: y0, w: x1 - x0, h: y1 - y0, text });
    y = y1 + Math.round(size * rng.range(0.6, 1.6));
  }
  const img = c.getImageData(0, 0, width, height);
  addNoise(img.data, rng, rng.chance(0.5) ? rng.range(2, 10) : 0);
  return { image: { width, height, data: img.data }, boxes };
}

/** `count` generated pages, rendered one per step of the iteration. */
export function* renderTextPages(opts: {
  count: number;
  seed?: number;
  width?: number;
  height?: number;
  start?: number;
}): Generator<RenderedPage, void, undefined> {
  const start = opts.start ?? 0;
  for (let i = 0; i < opts.count; i++) {
    yield renderTextPage(opts.seed ?? 0, start + i, opts.width ?? 640, opts.height ?? 640);
  }
}

/** Every distinct character the generators can emit (for checking them against a rec dictionary). */
export function generatedCharacters(): string[] {
  const all = [
    ...EN_WORDS,
    ...EN_WORDS.map((w) => w.toUpperCase()),
    ...CN_WORDS,
    ...CN_UNITS,
    ...LATIN_TERMS,
    ...MONTHS,
    CODE_CHARS,
    '0123456789$￥.,:%-/年月日第章页号期名No',
  ].join('');
  return [...new Set([...all])].sort();
}
