// Turkish text -> sesli phonemes in the browser, from a lexicon sesli's Python G2P precomputed.
//
// A word in lexicon.json is read exactly as sesli reads it alone. Any other word is read by a port
// of sesli.text.g2p.segments (the letter rules) with the stress on the last syllable (or, after an
// apostrophe, on the stem's last syllable). Digits and other characters the Python normaliser would
// spell out are not read here: they are returned in `unknown`, as the Python G2P returns what it
// cannot read. Keep this file in step with src/sesli/text/g2p.py (tests compare the two).
(function (root) {
  "use strict";

  const LETTERS = "a-zçğıöşüâîû";
  const VOWELS = new Set("aeıioöuüâîû");
  const FRONT = new Set("eiöüî");
  const PALATALISING = new Set("eiöüîâû");
  const VOWEL = { a: "a", e: "e", ı: "ɯ", i: "i", o: "o", ö: "ø", u: "u", ü: "y", â: "a", î: "i", û: "u" };
  const CONS = {
    b: "b", c: "ʤ", ç: "ʧ", d: "d", f: "f", g: "ɡ", h: "h", j: "ʒ", k: "k", l: "l", m: "m", n: "n",
    p: "p", r: "ɾ", s: "s", ş: "ʃ", t: "t", v: "v", y: "j", z: "z",
  };
  const DEVOICE = { b: "p", d: "t", c: "ʧ" };
  const TURKISH = new Set("abcçdefgğhıijklmnoöprsştuüvyzâîûqwx");
  const SPECIAL = { ß: "ss", æ: "ae", œ: "ö", ø: "ö", ł: "l", đ: "d", ð: "d", þ: "t" };
  const PUNCT = ",.?!;:—…";
  const SILENT = new Set("\"'’‘‛“”„‟«»‹›`´()[]{}<>/\\-‐‑_*~·•|");
  const MAX_SPELLED = 12;
  const TOKEN = new RegExp(
    `[${LETTERS}]+(?:['][${LETTERS}]+)*|[${PUNCT}]|[^\\s${LETTERS}]`, "gu");

  function lowerTr(text) {
    return text.normalize("NFC").replace(/I/g, "ı").replace(/İ/g, "i").toLowerCase();
  }

  function latin(ch) {
    if (TURKISH.has(ch)) return ch;
    if (ch in SPECIAL) return SPECIAL[ch];
    if ("–‒―".includes(ch)) return "—";
    if (/\p{L}/u.test(ch)) {
      const parts = ch.normalize("NFD");
      if (parts[0] >= "a" && parts[0] <= "z" && /^\p{M}*$/u.test(parts.slice(1))) return parts[0];
    }
    return ch;
  }

  // One phoneme (a vowel possibly with ː) per token, and for each written vowel its token's index.
  function segments(word) {
    const toks = [], vtok = [];
    const n = word.length;
    let lastVowel = "", nv = 0, i = 0;
    while (i < n) {
      const ch = word[i], prev = i ? word[i - 1] : "";
      if (VOWELS.has(ch)) {
        const base = VOWEL[ch];
        let long = ch === "î" || ((ch === "â" || ch === "û") && !"kgl".includes(prev || "#"));
        vtok.push(toks.length);
        const nxt = i + 1 < n ? word[i + 1] : "", after = i + 2 < n ? word[i + 2] : "";
        let step = 1, glide = false;
        if (nxt === "ğ") {
          step = 2;
          if (!VOWELS.has(after)) long = true;
          else if (FRONT.has(ch) && FRONT.has(after)) glide = true;
          else if (VOWEL[after] === base) { long = true; step = 3; vtok.push(toks.length); }
        } else if (VOWELS.has(nxt) && VOWEL[nxt] === base) {
          long = true;
          while (i + step < n && VOWELS.has(word[i + step]) && VOWEL[word[i + step]] === base) {
            vtok.push(toks.length);
            step += 1;
          }
        }
        toks.push(long ? base + "ː" : base);
        if (glide) toks.push("j");
        lastVowel = ch;
        i += step;
        continue;
      }
      if (ch === "ğ") { i += 1; continue; }
      const nxt = i + 1 < n ? word[i + 1] : "";
      if (ch === "k" || ch === "g") {
        let pal;
        if (VOWELS.has(nxt)) pal = PALATALISING.has(nxt);
        else if (lastVowel) pal = FRONT.has(lastVowel);
        else {
          if (nv <= i) {
            nv = Math.max(nv, i + 1);
            while (nv < n && !VOWELS.has(word[nv])) nv += 1;
          }
          pal = nv < n && PALATALISING.has(word[nv]);
        }
        toks.push(pal ? (ch === "k" ? "c" : "ɟ") : (ch === "k" ? "k" : "ɡ"));
      } else if (ch === "n" && (nxt === "k" || nxt === "g")) toks.push("ŋ");
      else if (i === n - 1 && ch in DEVOICE) toks.push(DEVOICE[ch]);
      else toks.push(CONS[ch] || "");
      i += 1;
    }
    return [toks, vtok];
  }

  const prepare = (w) => w.replace(/q/g, "k").replace(/w/g, "v").replace(/x/g, "ks");

  class SesliG2P {
    // lexicon: the parsed lexicon.json ({words, phrases, letter_names}).
    constructor(lexicon) {
      this.words = new Map(Object.entries(lexicon.words || {}));
      this.phrases = new Map(Object.entries(lexicon.phrases || {}));
      this.letterNames = lexicon.letter_names || {};
    }

    spell(word) { return [...word].map((c) => this.letterNames[c] || c).join(""); }

    // The letter rules with stress on the last syllable (of the stem, before an apostrophe).
    rules(word) {
      const at = word.indexOf("'");
      let stem = prepare(at < 0 ? word : word.slice(0, at));
      const suffix = prepare(at < 0 ? "" : word.slice(at + 1).replace(/'/g, ""));
      if (stem.length <= MAX_SPELLED && ![...stem].some((c) => VOWELS.has(c))) stem = this.spell(stem);
      const [toks, vtok] = segments(stem + suffix);
      if (!vtok.length) return toks.join("");
      let target = vtok[vtok.length - 1];
      if (suffix) {
        const [, stemV] = segments(stem);
        if (stemV.length) target = vtok[stemV.length - 1];
      }
      toks[target] = "ˈ" + toks[target];
      return toks.join("");
    }

    // One word (lower case, apostrophes allowed) -> [phonemes, "lexicon" | "rules"].
    word(word) {
      const known = this.words.get(word);
      if (known !== undefined) return [known, "lexicon"];
      const at = word.indexOf("'");
      if (at > 0) {
        const stem = this.words.get(word.slice(0, at));
        if (stem !== undefined) {
          const [toks] = segments(prepare(word.slice(at + 1).replace(/'/g, "")));
          return [stem + toks.join(""), "lexicon"];
        }
      }
      return [this.rules(word), "rules"];
    }

    // Text -> {phonemes, words: [{word, phonemes, source}], unknown: [chars]}.
    phonemize(text) {
      let s = [...lowerTr(text).replace(/’/g, "'")].map(latin).join("");
      s = s.replace(/\.{3,}/g, "…");
      const items = [], unknown = [];
      for (const tok of s.match(TOKEN) || []) {
        if (PUNCT.includes(tok) && tok.length === 1) items.push([false, tok]);
        else if (tok.length > 1 || TURKISH.has(tok)) items.push([true, tok]);
        else if (!SILENT.has(tok) && !unknown.includes(tok)) unknown.push(tok);
      }
      const out = [], words = [];
      for (let k = 0; k < items.length; k++) {
        const [isWord, tok] = items[k];
        if (!isWord) { out.push(tok); continue; }
        if (k + 1 < items.length && items[k + 1][0] && this.phrases.has(tok + " " + items[k + 1][1])) {
          const phon = this.phrases.get(tok + " " + items[k + 1][1]);
          const [p1, p2] = [phon.slice(0, phon.indexOf(" ")), phon.slice(phon.indexOf(" ") + 1)];
          words.push({ word: tok, phonemes: p1, source: "lexicon" });
          words.push({ word: items[k + 1][1], phonemes: p2, source: "lexicon" });
          out.push(" " + phon);
          k += 1;
          continue;
        }
        const [phon, source] = this.word(tok);
        out.push(" " + phon);
        words.push({ word: tok, phonemes: phon, source });
      }
      return { phonemes: out.join("").trim(), words, unknown };
    }
  }

  SesliG2P.segments = segments;
  root.SesliG2P = SesliG2P;
  if (typeof module !== "undefined" && module.exports) module.exports = SesliG2P;
})(typeof self !== "undefined" ? self : globalThis);
