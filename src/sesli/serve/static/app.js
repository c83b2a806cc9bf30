// sesli's web page: a client of the HTTP API only (GET /v1/audio/voices,
// POST /v1/audio/speech/captioned). No build step, no dependencies.
//
// Playback while streaming: each NDJSON line carries one synthesized chunk as base64 s16le PCM and
// its words' times (seconds from the start of the whole response). Each chunk becomes an
// AudioBuffer scheduled right after the previous one. A "segment" remembers where a chunk sits on
// the AudioContext clock and in the response, so the word being heard is found even if the stream
// fell behind and left a gap. When the stream ends, all PCM becomes a WAV blob for <audio> and the
// download link; replaying follows <audio>.currentTime instead.
"use strict";

(() => {
  const STRINGS = {
    tr: {
      docTitle: "Sesli · Türkçe seslendirme",
      skip: "İçeriğe geç",
      heading: "Türkçe seslendirme",
      tagline: "Metni yazın, ses akarken dinleyin; okunan kelime vurgulanır.",
      langButton: "English",
      langLabel: "Switch to English",
      textLabel: "Metin",
      textHelp: "Ctrl+Enter ile de seslendirebilirsiniz.",
      voiceLabel: "Ses",
      mixLabel: "Ses karışımı (isteğe bağlı)",
      mixHelp: "Örnek: {example}. Doluysa seçilen sesin yerine gönderilir.",
      mixUnsupported: "Bu model ses karıştırmayı desteklemiyor.",
      mixPlaceholder: "ses_a(2)+ses_b(1)",
      speedLabel: "Hız",
      keyLabel: "API anahtarı (isteğe bağlı)",
      keyHelp: "Bu tarayıcıda saklanır ve Bearer olarak gönderilir.",
      speak: "Seslendir",
      stop: "Durdur",
      listenHeading: "Dinle",
      transcriptEmpty: "Seslendirilen metin burada kelime kelime vurgulanır.",
      download: "WAV indir",
      footer: "Bu sayfa yalnızca sesli'nin HTTP API'sini kullanır:",
      docsLink: "API belgeleri",
      loading: "Model yükleniyor…",
      ready: "Hazır: {voices} ses, {rate} Hz.",
      noVoices: "Ses listesi alınamadı.",
      requesting: "İstek gönderildi…",
      streaming: "Akıyor: {chunks} parça, {seconds} sn ses.",
      done: "Bitti: {seconds} sn ses; ilk ses {first} ms'de geldi.",
      stopped: "Durduruldu.",
      failed: "Seslendirilemedi.",
      emptyText: "Önce bir metin yazın.",
      network: "Sunucuya ulaşılamadı: {detail}",
      badLine: "Sunucudan okunamayan bir satır geldi.",
      retry: "{seconds} sn sonra yeniden deneyin.",
      seek: "{time} sn'den çal",
    },
    en: {
      docTitle: "Sesli · Turkish text to speech",
      skip: "Skip to content",
      heading: "Turkish text to speech",
      tagline: "Type text and listen while it streams; the word being spoken is highlighted.",
      langButton: "Türkçe",
      langLabel: "Türkçeye geç",
      textLabel: "Text",
      textHelp: "Ctrl+Enter speaks too.",
      voiceLabel: "Voice",
      mixLabel: "Voice mix (optional)",
      mixHelp: "Example: {example}. When filled, it is sent instead of the chosen voice.",
      mixUnsupported: "This model cannot mix voices.",
      mixPlaceholder: "voice_a(2)+voice_b(1)",
      speedLabel: "Speed",
      keyLabel: "API key (optional)",
      keyHelp: "Stored in this browser and sent as a Bearer token.",
      speak: "Speak",
      stop: "Stop",
      listenHeading: "Listen",
      transcriptEmpty: "The spoken text is highlighted here word by word.",
      download: "Download WAV",
      footer: "This page only uses sesli's HTTP API:",
      docsLink: "API docs",
      loading: "Loading the model…",
      ready: "Ready: {voices} voices, {rate} Hz.",
      noVoices: "Could not get the voices.",
      requesting: "Request sent…",
      streaming: "Streaming: {chunks} chunks, {seconds} s of audio.",
      done: "Done: {seconds} s of audio; the first audio came in {first} ms.",
      stopped: "Stopped.",
      failed: "Could not speak the text.",
      emptyText: "Type some text first.",
      network: "Could not reach the server: {detail}",
      badLine: "The server sent a line that could not be read.",
      retry: "Try again in {seconds} s.",
      seek: "Play from {time} s",
    },
  };

  const $ = (id) => document.getElementById(id);
  const el = {
    lang: $("lang"), form: $("form"), text: $("text"), voice: $("voice"), mix: $("mix"),
    mixHelp: $("mix-help"), speed: $("speed"), speedValue: $("speed-value"), key: $("key"),
    speak: $("speak"), stop: $("stop"), status: $("status"), error: $("error"),
    transcript: $("transcript"), player: $("player"), download: $("download"),
  };

  // localStorage can be missing or throw (privacy modes, file://): the page works without it.
  const store = {
    get(name) { try { return window.localStorage.getItem(name); } catch { return null; } },
    set(name, value) {
      try {
        if (value) window.localStorage.setItem(name, value);
        else window.localStorage.removeItem(name);
      } catch { /* not remembered */ }
    },
  };

  let lang = store.get("sesli.lang") === "en" ? "en" : "tr";
  let info = null; // the answer of GET /v1/audio/voices
  let status = null; // {key, params}: re-rendered when the language changes
  let error = null; // {key, params} or {text} (the API's own message)
  let current = null; // the run being streamed or played
  let context = null; // one AudioContext, made on the first click (autoplay rules)
  let objectUrl = null;

  function t(key, params = {}) {
    const template = STRINGS[lang][key] ?? STRINGS.tr[key] ?? key;
    return template.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
  }

  // ---- language -------------------------------------------------------------------------------
  function applyLanguage() {
    document.documentElement.lang = lang;
    document.title = t("docTitle");
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    el.lang.textContent = t("langButton");
    el.lang.lang = lang === "tr" ? "en" : "tr";
    el.lang.setAttribute("aria-label", t("langLabel"));
    el.mix.placeholder = mixExample() || t("mixPlaceholder");
    renderMixHelp();
    renderStatus();
    renderError();
    if (current) for (const span of current.spans) if (span) span.title = seekTitle(span);
  }

  el.lang.addEventListener("click", () => {
    lang = lang === "tr" ? "en" : "tr";
    store.set("sesli.lang", lang);
    applyLanguage();
  });

  // ---- status and errors ----------------------------------------------------------------------
  function setStatus(key, params) {
    status = key ? { key, params } : null;
    renderStatus();
  }

  function renderStatus() {
    el.status.textContent = status ? t(status.key, status.params) : "";
  }

  function showError(value) {
    error = value;
    renderError();
  }

  function renderError() {
    if (!error) {
      el.error.hidden = true;
      el.error.textContent = "";
      return;
    }
    el.error.textContent = error.text ?? t(error.key, error.params);
    el.error.hidden = false;
  }

  class ApiError extends Error {}

  // The API's own message ({"error": {"message"}}); a 429 says when to come back.
  async function apiMessage(response) {
    let message = `HTTP ${response.status}`;
    try {
      const body = await response.json();
      message = body?.error?.message || (typeof body?.detail === "string" ? body.detail : message);
    } catch { /* not JSON: keep the status */ }
    const retry = response.headers.get("Retry-After");
    if (response.status === 429 && retry) message += " " + t("retry", { seconds: retry });
    return message;
  }

  function authHeaders() {
    const key = el.key.value.trim();
    return key ? { Authorization: `Bearer ${key}` } : {};
  }

  // ---- voices ---------------------------------------------------------------------------------
  let voicesTimer = null;

  async function loadVoices() {
    clearTimeout(voicesTimer);
    if (!info) setStatus("loading");
    let response;
    try {
      response = await fetch("/v1/audio/voices", { headers: authHeaders() });
    } catch (err) {
      showError({ key: "network", params: { detail: err.message } });
      voicesTimer = setTimeout(loadVoices, 3000);
      return;
    }
    if (response.status === 503) { // still loading
      voicesTimer = setTimeout(loadVoices, 1000);
      return;
    }
    if (!response.ok) {
      showError({ text: await apiMessage(response) });
      setStatus("noVoices");
      return;
    }
    info = await response.json();
    const chosen = el.voice.value || store.get("sesli.voice") || info.default;
    el.voice.replaceChildren(...info.voices.map((name) => new Option(name, name)));
    el.voice.value = info.voices.includes(chosen) ? chosen : info.default ?? info.voices[0] ?? "";
    el.voice.disabled = info.voices.length === 0;
    el.mix.disabled = info.family !== "kokoro";
    if (error && !current) showError(null);
    applyLanguage();
    setStatus("ready", { voices: info.voices.length, rate: info.sample_rate });
    document.body.dataset.ready = "true";
  }

  function mixExample() {
    if (!info || info.family !== "kokoro" || info.voices.length === 0) return "";
    const [a, b = a] = info.voices;
    return `${a}(2)+${b}(1)`;
  }

  function renderMixHelp() {
    if (info && info.family !== "kokoro") el.mixHelp.textContent = t("mixUnsupported");
    else el.mixHelp.textContent = t("mixHelp", { example: mixExample() || t("mixPlaceholder") });
  }

  el.voice.addEventListener("change", () => store.set("sesli.voice", el.voice.value));
  el.key.value = store.get("sesli.key") || "";
  el.key.addEventListener("change", () => {
    store.set("sesli.key", el.key.value.trim());
    loadVoices();
  });
  el.speed.addEventListener("input", () => {
    el.speedValue.textContent = `${Number(el.speed.value).toFixed(2)}×`;
  });

  // ---- speaking -------------------------------------------------------------------------------
  function audioContext(rate) {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    if (context && context.state !== "closed") return context;
    try {
      context = new Context({ sampleRate: rate, latencyHint: "interactive" });
    } catch {
      context = new Context(); // buffers keep their own rate; Web Audio resamples
    }
    return context;
  }

  async function speak(event) {
    event?.preventDefault();
    const text = el.text.value;
    if (!text.trim()) {
      showError({ key: "emptyText" });
      return;
    }
    stopAll();
    showError(null);
    const rate = info?.sample_rate || 24000;
    const run = {
      text, chars: Array.from(text), // offsets count code points, as Python's do
      controller: new AbortController(), ctx: null, rate, nextTime: 0,
      sources: new Set(), segments: [], pcm: [], samples: 0, carry: null,
      words: [], spans: [], active: -1, highlights: 0, chunks: 0,
      started: performance.now(), firstMs: null, fetching: true, ended: false,
    };
    current = run;
    resetOutput(run);
    try {
      run.ctx = audioContext(rate);
      if (run.ctx) await run.ctx.resume();
    } catch {
      run.ctx = null; // no live playback; the WAV still comes at the end
    }
    const body = { model: "tts-1", input: text, speed: Number(el.speed.value), response_format: "pcm", stream: true };
    const voice = el.mix.value.trim() || el.voice.value;
    if (voice) body.voice = voice;
    setStatus("requesting");
    updateButtons();
    try {
      const response = await fetch("/v1/audio/speech/captioned", {
        method: "POST",
        headers: { "Content-Type": "application/json", ...authHeaders() },
        body: JSON.stringify(body),
        signal: run.controller.signal,
      });
      if (!response.ok) throw new ApiError(await apiMessage(response));
      run.rate = Number(response.headers.get("X-Sample-Rate")) || rate;
      await readLines(response.body, (line) => onLine(run, line));
      if (run === current) finish(run, "done");
    } catch (err) {
      if (run !== current) return; // a newer run took over
      if (err.name === "AbortError") return finish(run, "stopped");
      if (err instanceof ApiError) showError({ text: err.message });
      else if (err instanceof SyntaxError) showError({ key: "badLine" });
      else showError({ key: "network", params: { detail: err.message } });
      finish(run, "failed");
    }
  }

  async function readLines(stream, onLine) {
    const reader = stream.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        if (line) onLine(JSON.parse(line));
      }
    }
    buffer += decoder.decode();
    if (buffer.trim()) onLine(JSON.parse(buffer));
  }

  function base64Bytes(text) {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  function onLine(run, line) {
    if (run !== current) return;
    if (line.error) throw new ApiError(line.error.message || "error");
    let bytes = base64Bytes(line.audio || "");
    if (run.carry) { // a sample split across two lines (not expected, but cheap to handle)
      const joined = new Uint8Array(run.carry.length + bytes.length);
      joined.set(run.carry);
      joined.set(bytes, run.carry.length);
      bytes = joined;
      run.carry = null;
    }
    const even = bytes.length & ~1;
    if (even < bytes.length) run.carry = bytes.slice(even);
    bytes = bytes.subarray(0, even);
    const firstSample = run.samples;
    if (bytes.length) {
      run.pcm.push(bytes);
      run.samples += bytes.length / 2;
      if (run.firstMs === null) run.firstMs = performance.now() - run.started;
      schedule(run, bytes, firstSample);
    }
    for (const word of line.timestamps || []) run.words.push(word);
    run.words.sort((a, b) => a.start_time - b.start_time);
    run.chunks += 1;
    el.transcript.dataset.chunks = String(run.chunks);
    renderTranscript(run);
    setStatus("streaming", { chunks: run.chunks, seconds: (run.samples / run.rate).toFixed(1) });
  }

  function schedule(run, bytes, firstSample) {
    if (!run.ctx) return;
    const count = bytes.length / 2;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const buffer = run.ctx.createBuffer(1, count, run.rate);
    const channel = buffer.getChannelData(0);
    for (let i = 0; i < count; i++) channel[i] = view.getInt16(2 * i, true) / 32768;
    const source = run.ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(run.ctx.destination);
    const at = Math.max(run.nextTime, run.ctx.currentTime + 0.05);
    source.start(at);
    run.nextTime = at + buffer.duration;
    run.sources.add(source);
    source.onended = () => run.sources.delete(source);
    run.segments.push({ at, from: firstSample / run.rate, duration: buffer.duration });
  }

  function finish(run, outcome) {
    run.fetching = false;
    run.ended = true;
    renderTranscript(run);
    if (run.samples > 0) {
      objectUrl = URL.createObjectURL(wavBlob(run.pcm, run.rate));
      el.player.src = objectUrl;
      el.player.load();
      el.download.href = objectUrl;
      el.download.hidden = false;
      if (!run.ctx && outcome === "done") el.player.play().catch(() => {});
    }
    const seconds = (run.samples / run.rate).toFixed(1);
    if (outcome === "done") setStatus("done", { seconds, first: Math.round(run.firstMs ?? 0) });
    else setStatus(outcome);
    el.transcript.dataset.state = outcome;
    updateButtons();
  }

  function wavBlob(parts, rate) {
    const size = parts.reduce((n, part) => n + part.length, 0);
    const header = new DataView(new ArrayBuffer(44));
    const text = (offset, value) => { for (let i = 0; i < 4; i++) header.setUint8(offset + i, value.charCodeAt(i)); };
    text(0, "RIFF");
    header.setUint32(4, 36 + size, true);
    text(8, "WAVE");
    text(12, "fmt ");
    header.setUint32(16, 16, true); // fmt chunk size
    header.setUint16(20, 1, true); // PCM
    header.setUint16(22, 1, true); // mono
    header.setUint32(24, rate, true);
    header.setUint32(28, rate * 2, true); // bytes per second
    header.setUint16(32, 2, true); // block align
    header.setUint16(34, 16, true); // bits per sample
    text(36, "data");
    header.setUint32(40, size, true);
    return new Blob([header.buffer, ...parts], { type: "audio/wav" });
  }

  function resetOutput(run) {
    el.player.pause();
    el.player.removeAttribute("src");
    el.player.load();
    el.download.hidden = true;
    el.download.removeAttribute("href");
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = null;
    el.transcript.dataset.highlights = "0";
    el.transcript.dataset.chunks = "0";
    el.transcript.dataset.state = "streaming";
    el.transcript.lang = "tr";
    renderTranscript(run);
  }

  function stopSources(run) {
    if (!run) return;
    for (const source of run.sources) {
      try { source.stop(); } catch { /* not started yet */ }
    }
    run.sources.clear();
  }

  function stopAll() {
    const run = current;
    if (!run) return;
    if (run.fetching) run.controller.abort();
    stopSources(run);
    el.player.pause();
    if (!run.fetching) setStatus("stopped");
    updateButtons();
  }

  function updateButtons() {
    const run = current;
    const busy = Boolean(run && run.fetching);
    const playing = Boolean(run && (run.sources.size > 0 || !el.player.paused));
    el.speak.disabled = busy;
    el.stop.disabled = !(busy || playing);
  }

  el.form.addEventListener("submit", speak);
  el.stop.addEventListener("click", stopAll);
  el.text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !el.speak.disabled) speak(event);
  });
  // Replaying the WAV takes over from the live stream, so the two never sound at once.
  el.player.addEventListener("play", () => { stopSources(current); updateButtons(); });
  el.player.addEventListener("pause", updateButtons);

  // ---- words ----------------------------------------------------------------------------------
  function seekTitle(span) {
    return t("seek", { time: Number(span.dataset.start).toFixed(2) });
  }

  // The request's own text, with a span per timed word (offsets from the API); the part not yet
  // timed stays dim until its chunk arrives.
  function renderTranscript(run) {
    const { chars } = run;
    const order = run.words.map((word, i) => i).sort((a, b) => run.words[a].char_start - run.words[b].char_start);
    const fragment = document.createDocumentFragment();
    run.spans = [];
    let pos = 0;
    for (const i of order) {
      const word = run.words[i];
      const start = Math.min(Math.max(word.char_start, pos), chars.length);
      const end = Math.min(Math.max(word.char_end, start), chars.length);
      if (start > pos) fragment.append(chars.slice(pos, start).join(""));
      const span = document.createElement("span");
      span.className = i === run.active ? "word speaking" : "word";
      span.textContent = chars.slice(start, end).join("");
      span.dataset.index = String(i);
      span.dataset.start = String(word.start_time);
      span.title = seekTitle(span);
      run.spans[i] = span;
      fragment.append(span);
      pos = end;
    }
    if (pos < chars.length) {
      const rest = document.createElement("span");
      rest.className = run.ended ? "rest" : "pending";
      rest.textContent = chars.slice(pos).join("");
      fragment.append(rest);
    }
    el.transcript.replaceChildren(fragment);
  }

  // Seconds into the response being heard on the Web Audio clock (null: nothing playing).
  function streamTime(run) {
    if (!run.ctx || run.sources.size === 0) return null;
    const now = run.ctx.currentTime;
    let segment = null;
    for (const s of run.segments) {
      if (s.at <= now) segment = s;
      else break;
    }
    if (!segment) return null;
    return segment.from + Math.min(now - segment.at, segment.duration); // a gap holds the last word
  }

  function highlight(run, time) {
    let index = -1;
    if (time !== null) {
      for (let i = 0; i < run.words.length && run.words[i].start_time <= time + 0.02; i++) index = i;
      if (index >= 0 && time > run.words[index].end_time + 0.35) index = -1; // a long pause
    }
    if (index === run.active) return;
    run.spans[run.active]?.classList.remove("speaking");
    run.active = index;
    const span = run.spans[index];
    if (!span) return;
    span.classList.add("speaking");
    run.highlights += 1;
    el.transcript.dataset.highlights = String(run.highlights);
    el.transcript.dataset.word = run.words[index].word;
    const box = el.transcript.getBoundingClientRect();
    const at = span.getBoundingClientRect();
    if (at.top < box.top || at.bottom > box.bottom) span.scrollIntoView({ block: "nearest" });
  }

  function tick() {
    const run = current;
    if (!run) return;
    const replaying = el.player.currentSrc && !el.player.paused && !el.player.ended;
    highlight(run, replaying ? el.player.currentTime : streamTime(run));
    updateButtons();
  }

  // A timer rather than requestAnimationFrame: it keeps going in background tabs (throttled).
  setInterval(tick, 40);

  el.transcript.addEventListener("click", (event) => {
    const span = event.target.closest(".word");
    if (!span || !current || !current.ended || !el.player.currentSrc) return;
    el.player.currentTime = Number(span.dataset.start);
    el.player.play().catch(() => {});
  });

  applyLanguage();
  loadVoices();
})();
