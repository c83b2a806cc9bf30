// sesli in the browser: Turkish text -> phonemes (g2p.js, sesli's precomputed lexicon) -> the
// exported Kokoro graph in onnxruntime-web (WebAssembly) -> audio. Nothing is sent to a server: the
// page only fetches its own static files (site.json, lexicon.json, the graph, <voice>.bin).
//
// The graph's contract is kokoro-onnx's: input_ids int64 [1, T] (0, phoneme ids..., 0), style
// float32 [1, 256] (row n_phonemes - 1 of the voice pack, as upstream Kokoro picks it), speed
// float32 [1]; outputs waveform float32 [N] and duration int64 [T].
(function () {
  "use strict";

  const MAX_PHONEMES = 510; // the graph's context: 512 ids with the two pads
  const $ = (id) => document.getElementById(id);
  const state = { site: null, g2p: null, session: null, graph: null, packs: new Map(), loading: null };

  function status(text, kind = "") {
    const el = $("status");
    el.textContent = text;
    el.dataset.kind = kind;
  }

  async function fetchJSON(url) {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    return res.json();
  }

  // The graph's bytes, with a progress line (it is tens to hundreds of MB).
  async function fetchBytes(url, label) {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    const total = Number(res.headers.get("content-length")) || 0;
    if (!res.body || !total) return new Uint8Array(await res.arrayBuffer());
    const out = new Uint8Array(total);
    const reader = res.body.getReader();
    let seen = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      out.set(value, seen);
      seen += value.length;
      status(`${label}: ${(seen / 1e6).toFixed(0)} / ${(total / 1e6).toFixed(0)} MB`);
    }
    return out;
  }

  async function init() {
    const site = (state.site = await fetchJSON("site.json"));
    state.g2p = new self.SesliG2P(await fetchJSON(site.lexicon));
    const want = new URLSearchParams(location.search).get("dtype");
    const dtypes = Object.keys(site.graphs);
    state.graph = site.graphs[dtypes.includes(want) ? want : dtypes[0]];
    const select = $("voice");
    for (const name of site.voices) select.add(new Option(name, name));
    ort.env.wasm.wasmPaths = new URL(site.ort.path, location.href).href;
    ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
    $("graph").textContent = `${state.graph} · onnxruntime-web ${site.ort.version} · ` +
      `${ort.env.wasm.numThreads} thread${ort.env.wasm.numThreads > 1 ? "s" : ""}`;
    $("speak").disabled = false;
    document.body.dataset.ready = "1";
    status("Hazır: metni yazıp Seslendir'e basın (model ilk seferde indirilir).");
  }

  function loadModel() {
    if (!state.loading) {
      state.loading = (async () => {
        const bytes = await fetchBytes(state.graph, "Model indiriliyor");
        status("Model açılıyor…");
        state.session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
        return state.session;
      })();
      state.loading.catch(() => { state.loading = null; });
    }
    return state.loading;
  }

  async function pack(voice) {
    if (!state.packs.has(voice)) {
      const res = await fetch(`${voice}.bin`);
      if (!res.ok) throw new Error(`${voice}.bin: HTTP ${res.status}`);
      state.packs.set(voice, new Float32Array(await res.arrayBuffer()));
    }
    return state.packs.get(voice);
  }

  // Phonemes -> pieces of at most MAX_PHONEMES symbols, cut after sentence ends, else at spaces.
  function pieces(phonemes) {
    const sentences = phonemes.split(/(?<=[.?!…])\s+/u).filter((s) => s.trim());
    const out = [];
    for (let s of sentences) {
      while ([...s].length > MAX_PHONEMES) {
        const chars = [...s];
        let cut = chars.lastIndexOf(" ", MAX_PHONEMES);
        if (cut <= 0) cut = MAX_PHONEMES;
        out.push(chars.slice(0, cut).join(""));
        s = chars.slice(cut).join("").trim();
      }
      if (s) out.push(s);
    }
    return out;
  }

  function ids(phonemes) {
    const vocab = state.site.vocab;
    const out = [0], dropped = [];
    for (const ch of phonemes) {
      if (ch in vocab) out.push(vocab[ch]);
      else if (!dropped.includes(ch)) dropped.push(ch);
    }
    out.push(0);
    return [out, dropped];
  }

  // Text -> {pieces: [{phonemes, ids}], samples (Float32Array), sampleRate, unknown, seconds}.
  async function synthesize(text, { voice, speed = 1.0, onPiece } = {}) {
    const read = state.g2p.phonemize(text);
    if (!read.phonemes) throw new Error("Okunacak bir şey yok (boş metin ya da yalnızca rakam/simge).");
    const session = await loadModel();
    const voicePack = await pack(voice || state.site.voices[0]);
    const width = state.site.style_dim[2];
    const done = [], parts = [];
    const started = performance.now();
    for (const phonemes of pieces(read.phonemes)) {
      const [tokens, dropped] = ids(phonemes);
      const n = tokens.length - 2;
      if (n < 1) continue;
      const row = Math.min(n - 1, state.site.style_dim[0] - 1);
      const feeds = {
        input_ids: new ort.Tensor("int64", BigInt64Array.from(tokens, BigInt), [1, tokens.length]),
        style: new ort.Tensor("float32", voicePack.slice(row * width, (row + 1) * width), [1, width]),
        speed: new ort.Tensor("float32", Float32Array.of(speed), [1]),
      };
      const result = await session.run(feeds);
      const audio = result.waveform.data;
      parts.push(audio);
      done.push({ phonemes, ids: tokens, dropped, durations: Array.from(result.duration.data, Number),
        seconds: audio.length / state.site.sample_rate });
      if (onPiece) onPiece(audio, done.length);
    }
    const samples = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of parts) { samples.set(p, at); at += p.length; }
    return { pieces: done, samples, sampleRate: state.site.sample_rate, unknown: read.unknown,
      words: read.words, renderSeconds: (performance.now() - started) / 1000 };
  }

  function wav(samples, rate) {
    const view = new DataView(new ArrayBuffer(44 + samples.length * 2));
    const text = (at, s) => [...s].forEach((c, i) => view.setUint8(at + i, c.charCodeAt(0)));
    text(0, "RIFF"); view.setUint32(4, 36 + samples.length * 2, true); text(8, "WAVE");
    text(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
    view.setUint32(24, rate, true); view.setUint32(28, rate * 2, true); view.setUint16(32, 2, true);
    view.setUint16(34, 16, true); text(36, "data"); view.setUint32(40, samples.length * 2, true);
    samples.forEach((x, i) => view.setInt16(44 + i * 2, Math.max(-1, Math.min(1, x)) * 0x7fff, true));
    return new Blob([view], { type: "audio/wav" });
  }

  async function speak(event) {
    if (event) event.preventDefault();
    const button = $("speak");
    button.disabled = true;
    const context = new AudioContext({ sampleRate: state.site.sample_rate });
    let playAt = 0;
    const play = (audio) => {  // each piece starts playing as soon as it is rendered
      const buffer = context.createBuffer(1, audio.length, state.site.sample_rate);
      buffer.copyToChannel(audio, 0);
      const source = context.createBufferSource();
      source.buffer = buffer;
      source.connect(context.destination);
      playAt = Math.max(playAt, context.currentTime);
      source.start(playAt);
      playAt += buffer.duration;
    };
    try {
      const out = await synthesize($("text").value, {
        voice: $("voice").value, speed: Number($("speed").value),
        onPiece: (audio, k) => { play(audio); status(`Seslendiriliyor: parça ${k}`); },
      });
      const url = URL.createObjectURL(wav(out.samples, out.sampleRate));
      $("audio").src = url;
      $("download").href = url;
      $("download").hidden = false;
      $("phonemes").textContent = out.pieces.map((p) => p.phonemes).join(" ");
      const ruled = out.words.filter((w) => w.source === "rules").map((w) => w.word);
      const seconds = out.samples.length / out.sampleRate;
      let line = `${seconds.toFixed(1)} s ses, ${out.renderSeconds.toFixed(1)} s'de üretildi ` +
        `(RTF ${(out.renderSeconds / seconds).toFixed(2)}).`;
      if (ruled.length) line += ` Sözlükte olmayan, kurallarla okunan: ${ruled.join(", ")}.`;
      if (out.unknown.length) line += ` Okunmayan: ${out.unknown.join(" ")} (sayıları yazıyla yazın).`;
      status(line, "done");
      window.sesliLast = out;
    } catch (err) {
      status(String(err.message || err), "error");
    } finally {
      button.disabled = false;
    }
  }

  window.sesli = { ready: null, synthesize, loadModel, g2p: (text) => state.g2p.phonemize(text) };
  document.addEventListener("DOMContentLoaded", () => {
    $("form").addEventListener("submit", speak);
    $("speed").addEventListener("input", () => { $("speed-value").textContent = $("speed").value; });
    window.sesli.ready = init().catch((err) => {
      status(`Sayfa açılamadı: ${err.message || err}`, "error");
      throw err;
    });
  });
})();
