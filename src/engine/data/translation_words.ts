/**
 * The language of the synthetic translation task: numbers in English words
 * (British, with "and": "three hundred and twelve") and dates in ISO and long
 * form, the task markers that lead each source, and the alphabet they use.
 */

const ONES = [
  "zero",
  "one",
  "two",
  "three",
  "four",
  "five",
  "six",
  "seven",
  "eight",
  "nine",
  "ten",
  "eleven",
  "twelve",
  "thirteen",
  "fourteen",
  "fifteen",
  "sixteen",
  "seventeen",
  "eighteen",
  "nineteen",
];
const TENS = [
  "",
  "",
  "twenty",
  "thirty",
  "forty",
  "fifty",
  "sixty",
  "seventy",
  "eighty",
  "ninety",
];
const SCALE_WORDS = ["hundred", "thousand", "and"];

/** English month names, January first. */
export const MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];

/**
 * What each source starts with: the format the target must be in, so that one
 * model does all four tasks.
 */
export const TASK_MARKERS = {
  /** "words: 312" -> "three hundred and twelve" */
  toWords: "words: ",
  /** "digits: three hundred and twelve" -> "312" */
  toDigits: "digits: ",
  /** "long: 2026-11-28" -> "28 November 2026" */
  toLongDate: "long: ",
  /** "iso: 28 November 2026" -> "2026-11-28" */
  toIsoDate: "iso: ",
} as const;

/** Largest number of the task. */
export const MAX_NUMBER = 999_999;

/**
 * Characters of the longest number in words, 777 777: "seven hundred and
 * seventy-seven thousand seven hundred and seventy-seven" (tested against
 * every number).
 */
export const LONGEST_NUMBER_WORDS = 72;

/** Characters of the longest long-form date, e.g. "28 September 2026". */
export const LONGEST_LONG_DATE = 17;

/** Characters of an ISO date, "2026-11-28". */
export const ISO_DATE_LENGTH = 10;

function under100(n: number): string {
  if (n < 20) return ONES[n];
  const unit = n % 10;
  return TENS[Math.floor(n / 10)] + (unit ? `-${ONES[unit]}` : "");
}

function under1000(n: number): string {
  const hundreds = Math.floor(n / 100);
  const rest = n % 100;
  if (hundreds === 0) return under100(rest);
  return `${ONES[hundreds]} hundred` + (rest ? ` and ${under100(rest)}` : "");
}

/**
 * `n` (0 to 999 999) in British English words: "three hundred and twelve",
 * "one thousand and four", "twenty-one thousand one hundred".
 */
export function numberToWords(n: number): string {
  if (!(Number.isInteger(n) && n >= 0 && n <= MAX_NUMBER)) {
    throw new RangeError(`expected an integer in [0, ${MAX_NUMBER}], got ${n}`);
  }
  if (n === 0) return ONES[0];
  const thousands = Math.floor(n / 1000);
  const rest = n % 1000;
  const parts: string[] = [];
  if (thousands > 0) parts.push(`${under1000(thousands)} thousand`);
  if (rest > 0) {
    // "and" joins a last part under a hundred to the thousands, as it joins
    // tens to hundreds: "one thousand and four".
    parts.push(
      thousands > 0 && rest < 100 ? `and ${under100(rest)}` : under1000(rest),
    );
  }
  return parts.join(" ");
}

/** A calendar date. */
export interface CalendarDate {
  year: number;
  /** 1 to 12. */
  month: number;
  /** 1 to 31. */
  day: number;
}

/** "2026-11-28". */
export function isoDate(d: CalendarDate): string {
  const pad = (v: number, w: number) => String(v).padStart(w, "0");
  return `${pad(d.year, 4)}-${pad(d.month, 2)}-${pad(d.day, 2)}`;
}

/** "28 November 2026". */
export function longDate(d: CalendarDate): string {
  return `${d.day} ${MONTHS[d.month - 1]} ${d.year}`;
}

/** Every character a source or target of the task can hold, sorted. */
export function translationAlphabet(): string[] {
  const text = [
    ...ONES,
    ...TENS,
    ...SCALE_WORDS,
    ...MONTHS,
    ...Object.values(TASK_MARKERS),
    "0123456789",
    "-",
  ].join("");
  return [...new Set(Array.from(text))].sort();
}
