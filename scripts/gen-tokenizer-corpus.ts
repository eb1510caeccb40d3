/**
 * Writes test/fixtures/tokenizer-corpus.txt: over 1 MB of varied text on which herd's tokenizer must
 * give exactly llama.cpp's token ids (test/engine/tokenizer-corpus.test.ts). Deterministic (seeded), so
 * the file only changes when this script does. Documents are separated by a line of 8 `\u0001`
 * characters (a control character no generator emits otherwise).
 *
 * Run: npx tsx scripts/gen-tokenizer-corpus.ts
 */
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";

export const CORPUS_PATH = resolve(import.meta.dirname, "../test/fixtures/tokenizer-corpus.txt");
export const DOC_SEPARATOR = `\n${"\u0001".repeat(8)}\n`;

let seed = 0x5eed1234;
function rand(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
const repeat = (n: number, f: () => string, sep = "") => Array.from({ length: n }, f).join(sep);

const WORDS = {
  en: (
    "the of and to in is was he for it with as his on be at by I this had not are but from or have an they which one you " +
    "were her all she there would their we him been has when who will more no if out so said what up its about into than " +
    "them can only other new some could time these two may then do first any my now such like our over man me even most " +
    "made after also did many before must through back years where much your way well down should because each just those " +
    "people Mr how too little state good very make world still own see men work long get here between both life being under " +
    "never day same another know while last might us great old year off come since against go came right used take three"
  ).split(" "),
  contractions: [
    "it's",
    "don't",
    "I'm",
    "we're",
    "they've",
    "she'll",
    "he'd",
    "can't",
    "won't",
    "IT'S",
    "DON'T",
    "We'Re",
    "You'VE",
    "O'Neill",
    "rock'n'roll",
    "'tis",
    "y'all",
    "didn't've",
  ],
  caps: [
    "HTTPServer",
    "XMLHttpRequest",
    "iPhone",
    "McDonald's",
    "camelCaseWord",
    "PascalCaseWord",
    "snake_case_word",
    "SCREAMING_SNAKE",
    "kebab-case-word",
    "ALLCAPS",
    "NASA",
    "eBay",
    "macOS",
    "JavaScript",
    "TypeScript",
    "GPT4o",
    "Llama4Scout",
  ],
  ru: (
    "и в не на я быть он с что а по это она этот к но они мы как из у который то за свой весь год от так о для ты же все " +
    "тот мочь вы человек такой его сказать только или ещё бы себя один как уже до время если сам когда другой вот говорить " +
    "наш мой знать стать при чтобы дело жизнь кто первый очень два день её новый рука даже во со раз где там под можно ну " +
    "какой после их работа без самый потом надо хотеть ли слово идти большой должен место иметь ничто"
  ).split(" "),
  el: (
    "και το η του να σε με για που είναι από τα της την ο δεν θα στο τον οι ένα στην στη των αυτό μου τι σου όταν μας πολύ " +
    "μια όπως έχει ήταν αλλά κάτι θέλω εδώ"
  ).split(" "),
  ar: (
    "في من على أن إلى هذا التي الذي عن مع كان هذه لا ما هو بين كل قد بعد ذلك عند أو حتى إذا لم لكن منذ وهو كما أي هناك قبل " +
    "غير حيث خلال يمكن اللغة العربية جميلة جدا"
  ).split(" "),
  he: "של את על לא זה הוא עם כי גם היא אני מה אבל או יש כל היה אם רק עוד אחד שלום עולם ספר בית".split(" "),
  hi: "के है में की और से को का एक यह पर भी हैं नहीं तो कि था जो ने हो कर इस लिए साथ नमस्ते दुनिया भारत हिन्दी भाषा".split(" "),
  th: ["สวัสดี", "ชาวโลก", "ภาษาไทย", "ประเทศ", "กรุงเทพมหานคร", "ขอบคุณ", "ครับ", "ค่ะ", "อาหาร", "อร่อย"],
  zh: [
    "中文",
    "文本",
    "测试",
    "我们",
    "他们",
    "今天",
    "天气",
    "很好",
    "北京",
    "上海",
    "人工智能",
    "大型语言模型",
    "的",
    "是",
    "在",
    "了",
    "和",
    "有",
    "不",
    "这",
  ],
  ja: ["日本語", "ひらがな", "カタカナ", "漢字", "東京", "こんにちは", "ありがとう", "です", "ます", "した", "ラーメン", "コンピュータ"],
  ko: ["한국어", "텍스트", "안녕하세요", "감사합니다", "서울", "컴퓨터", "사랑", "입니다", "했습니다", "그리고"],
  vi: ["Tiếng", "Việt", "xin", "chào", "thế", "giới", "người", "nước", "đẹp", "quá", "Hà", "Nội"],
} as const;
const PUNCT = [
  ".",
  ",",
  "!",
  "?",
  ";",
  ":",
  "…",
  "—",
  "–",
  "-",
  "(",
  ")",
  "[",
  "]",
  "{",
  "}",
  '"',
  "'",
  "«",
  "»",
  "“",
  "”",
  "‘",
  "’",
  "¿",
  "¡",
  "。",
  "、",
  "，",
  "！",
  "？",
  "「",
  "」",
  "・",
  "।",
  "؟",
  "،",
];
const EMOJI = [
  "😀",
  "😂",
  "🥲",
  "❤️",
  "👍",
  "👍🏽",
  "👨‍👩‍👧‍👦",
  "🏳️‍🌈",
  "🇺🇸",
  "🇯🇵",
  "🇩🇪",
  "✨",
  "🔥",
  "🎉",
  "🤖",
  "🦙",
  "☕",
  "⚡️",
  "🧑🏿‍💻",
  "👁️‍🗨️",
  "1️⃣",
  "#️⃣",
  "©️",
  "™",
];
const SPECIAL_LOOKALIKES = [
  "<|begin_of_text|>",
  "<|end_of_text|>",
  "<|eot|>",
  "<|eom|>",
  "<|header_start|>",
  "<|header_end|>",
  "<|python_start|>",
  "<|image|>",
  "<|patch|>",
  "<|reserved_special_token_5|>",
  "<|reserved_special_token_2047|>",
  "<|eot",
  "eot|>",
  "<|eot |>",
  "< |eot|>",
  "<|EOT|>",
  "<||>",
  "<|",
  "|>",
  "<|<|eot|>|>",
  "<s>",
  "</s>",
  "<unk>",
  "<pad>",
  "[INST]",
  "[/INST]",
  "<<SYS>>",
  "<|im_start|>",
  "<|endoftext|>",
  "<think>",
  "</think>",
];
const SPACES = [
  " ",
  "  ",
  "   ",
  "\t",
  "\t\t",
  "\n",
  "\n\n",
  "\r\n",
  " \n",
  "\n ",
  "\u00a0",
  "\u3000",
  "\u2009",
  "\u2028",
  "\u000b",
  "\f",
  "\u0085",
];

function prose(lang: keyof typeof WORDS, n: number): string {
  const words = WORDS[lang];
  let out = "";
  for (let i = 0; i < n; i++) {
    let w = pick(words);
    const r = rand();
    if (r < 0.08) w = w.charAt(0).toUpperCase() + w.slice(1);
    else if (r < 0.1) w = w.toUpperCase();
    out += w;
    const p = rand();
    if (p < 0.1) out += pick(PUNCT);
    out += p < 0.03 ? pick(SPACES) : lang === "zh" || lang === "ja" ? (rand() < 0.3 ? " " : "") : " ";
  }
  return out;
}

function englishish(n: number): string {
  let out = "";
  for (let i = 0; i < n; i++) {
    const r = rand();
    if (r < 0.06) out += pick(WORDS.contractions);
    else if (r < 0.1) out += pick(WORDS.caps);
    else if (r < 0.12) out += String(int(100000));
    else if (r < 0.13) out += pick(EMOJI);
    else if (r < 0.14) out += pick(SPECIAL_LOOKALIKES);
    else out += pick(WORDS.en);
    out += rand() < 0.12 ? pick(PUNCT) : "";
    out += rand() < 0.04 ? pick(SPACES) : " ";
  }
  return out;
}

const CODE_SNIPPETS = [
  () =>
    `function ${pick(WORDS.caps)}(x, y) {\n    const z = x * ${int(1000)} + y / ${rand().toFixed(int(8))};\n` +
    `    if (z >= 0x${int(0xffffff).toString(16)}) return [z, ...args];\n\treturn z ?? null; // ${prose("en", 6)}\n}\n`,
  () =>
    `def ${pick(WORDS.en)}_${pick(WORDS.en)}(self, n: int = ${int(100)}) -> list[str]:\n    """${prose("en", 8)}"""\n` +
    `    return [f"{i:04d}" for i in range(n) if i % ${1 + int(9)} == 0]\n\n`,
  () =>
    `#include <stdio.h>\nint main(int argc, char **argv) {\n  for (int i = 0; i < ${int(99)}; ++i) printf("%d\\n", i << 2);\n` +
    `  return 0;\n}\r\n`,
  () =>
    `{"id": ${int(1e6)}, "name": "${pick(WORDS.caps)}", "tags": ["${pick(WORDS.en)}", "${pick(WORDS.zh)}"], ` +
    `"ok": true, "v": ${rand().toExponential(3)}}\n`,
  () =>
    `<div class="${pick(WORDS.en)}-${pick(WORDS.en)}"><a href="https://example.com/${pick(WORDS.en)}?q=${int(999)}&amp;x=y#top">` +
    `${prose("en", 4)}</a></div>\n`,
  () => `$ cd ~/src && git log --oneline | head -${int(20)} | awk '{print $1}' ` + `> /tmp/out.txt 2>&1 || echo "failed: $?"\n`,
  () =>
    `SELECT a.${pick(WORDS.en)}, COUNT(*) AS n FROM t_${pick(WORDS.en)} a ` + `WHERE a.x <> ${int(50)} GROUP BY 1 HAVING n >= ${int(9)};\n`,
  () =>
    `| col | ${pick(WORDS.en)} |\n|-----|------|\n| **${pick(WORDS.caps)}** | \`${pick(WORDS.en)}()\` |\n\n` +
    `> ${prose("en", 7)}\n\n- [x] ${prose("en", 3)}\n`,
  () =>
    `x₁² + y₂³ ≤ ∑ᵢ αᵢ·βᵢ ≈ ∫₀^∞ e^{-t²} dt = √π/2 ± ε; ∀x∈ℝ ∃y: x≠y → ¬(x≡y) ⇒ ` +
    `${int(9)}‰ €${int(999)},${int(99)} £${int(99)} ¥${int(9999)} ₹${int(999)}\n`,
];

function digits(): string {
  const parts = [
    () => String(int(10 ** (1 + int(9)))),
    () => `${int(9999)}-${String(int(12) + 1).padStart(2, "0")}-${String(int(28) + 1).padStart(2, "0")}`,
    () => `+1 (${int(900) + 100}) ${int(900) + 100}-${int(9000) + 1000}`,
    () => `${int(1000)}.${int(1000000)}`,
    () => "9".repeat(1 + int(100)),
    () => Array.from({ length: 1 + int(40) }, () => int(10)).join(""),
    () =>
      `0x${int(2 ** 31)
        .toString(16)
        .toUpperCase()}`,
    () => "١٢٣٤٥٦٧٨٩٠ ०१२३४५६७८९ ①②③ Ⅻ ½ ¾",
  ];
  return repeat(5 + int(20), () => pick(parts)(), pick([" ", ", ", "\n", "\t"]));
}

function whitespace(): string {
  const runs = [
    () => " ".repeat(1 + int(200)),
    () => "\n".repeat(1 + int(50)),
    () => "\t".repeat(1 + int(30)),
    () => repeat(1 + int(40), () => pick(SPACES)),
    () => "\r\n".repeat(1 + int(10)),
  ];
  return repeat(4 + int(12), () => `${pick(runs)()}${pick(WORDS.en)}${rand() < 0.3 ? pick(PUNCT) : ""}`);
}

function emoji(): string {
  return repeat(10 + int(60), () => (rand() < 0.5 ? pick(EMOJI).repeat(1 + int(5)) : pick(WORDS.en)), rand() < 0.5 ? " " : "");
}

function oddities(): string {
  const bits = [
    () => "e\u0301 a\u0308 n\u0303 Z\u0351\u0352\u0353\u0354 o\u0323\u0302",
    () => "zero\u200bwidth\u200cjoiner\u200d and\ufeffbom and soft\u00adhyphen",
    () => "control\u0002chars\u0007here\u001b[31m red \u001b[0m",
    () => "lone \ud800 surrogate and \udfff another",
    () => "mixed ＡＢＣ ｆｕｌｌｗｉｄｔｈ and ﬁ ligature and Ⅷ and ǅ titlecase",
    () => "RTL \u202eoverride\u202c and \u200fmark",
    () => `https://user:pass@www.example.co.uk:8080/path/to/${pick(WORDS.en)}.html?query=${int(9999)}#frag mail@example.org`,
    () => `--${"-".repeat(int(60))}==${"=".repeat(int(60))}**${"*".repeat(int(30))}..${".".repeat(int(60))}`,
    () =>
      `${pick(SPECIAL_LOOKALIKES)}${pick(SPECIAL_LOOKALIKES)}${pick(WORDS.en)}${pick(SPECIAL_LOOKALIKES)} ${pick(SPECIAL_LOOKALIKES)}\n`,
    () => `${"a".repeat(1 + int(300))} ${"Ab".repeat(1 + int(100))} ${"漢".repeat(1 + int(200))} ${"!".repeat(1 + int(200))}`,
  ];
  return repeat(3 + int(10), () => pick(bits)(), pick([" ", "\n", ""]));
}

const LANGS = ["ru", "el", "ar", "he", "hi", "th", "zh", "ja", "ko", "vi"] as const;

export function generateCorpus(minBytes = 1_100_000): string {
  seed = 0x5eed1234;
  const docs: string[] = [];
  let bytes = 0;
  while (bytes < minBytes) {
    const kind = int(8);
    const doc =
      kind === 0
        ? englishish(100 + int(600))
        : kind === 1
          ? prose(pick(LANGS), 50 + int(400))
          : kind === 2
            ? repeat(2 + int(8), () => pick(CODE_SNIPPETS)())
            : kind === 3
              ? digits()
              : kind === 4
                ? whitespace()
                : kind === 5
                  ? emoji()
                  : kind === 6
                    ? oddities()
                    : repeat(
                        3 + int(6),
                        () => (rand() < 0.5 ? englishish(20 + int(80)) : prose(pick(LANGS), 20 + int(80))),
                        pick(["\n\n", " ", "<|eot|>", "\n"]),
                      );
    docs.push(doc);
    bytes += Buffer.byteLength(doc) + DOC_SEPARATOR.length;
  }
  return docs.join(DOC_SEPARATOR);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const text = generateCorpus();
  writeFileSync(CORPUS_PATH, text);
  console.log(`wrote ${CORPUS_PATH}: ${Buffer.byteLength(text)} bytes, ${text.split(DOC_SEPARATOR).length} documents`);
}
