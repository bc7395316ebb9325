// koe analyst dashboard: reads /v1/analytics and /v1/feedback and draws them. Every number shown is the API's,
// only formatted; every text from the API goes into the page as a text node (customer words are untrusted).
const echarts = window.echarts;
const KEY_STORAGE = "koe.apiKey";
const FILTERS = ["from", "to", "channel", "source", "segment"];
const SENTIMENTS = { positive: "ポジティブ", neutral: "ニュートラル", negative: "ネガティブ", mixed: "ミックス" };
const REASONS = { volume: "件数が増加", negativity: "ネガティブ率が上昇" };
const KINDS = { topic: "トピック", term: "語" };
const COLORS = ["#d73027", "#fc8d59", "#fee08b", "#91cf60", "#1a9850"];
const EMERGING_SHOWN = 10;

const state = { generation: 0, quotesToken: 0, filters: new URLSearchParams() };
const charts = {};
window.koeDashboard = { cells: 0, loaded: false };

class AuthRequired extends Error {}

const $ = (id) => document.getElementById(id);

function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...children.filter((c) => c !== null && c !== undefined).map((c) => (c instanceof Node ? c : String(c))));
  return node;
}

// ---- formatting (no arithmetic on the API's numbers beyond rounding for display)
const integer = (x) => (x === null || x === undefined ? "—" : Number(x).toLocaleString("ja-JP"));
const fixed = (x, digits = 1) => (x === null || x === undefined ? "—" : Number(x).toFixed(digits).replace("-", "−"));
const signed = (x, digits = 1) => (x === null || x === undefined ? "—" : (x > 0 ? "+" : "") + fixed(x, digits));
const signedInt = (x) => (x > 0 ? "+" : "") + integer(x).replace("-", "−");
const percent = (share) => (share === null || share === undefined ? "—" : `${(share * 100).toFixed(1)} %`);
const range = (interval, digits = 1) => (interval ? `${fixed(interval[0], digits)} 〜 ${fixed(interval[1], digits)}` : "—");
const day = (iso) => new Date(iso).toLocaleDateString("ja-JP", { timeZone: "Asia/Tokyo" });
const sentimentBadge = (label) => el("span", `sentiment sentiment-${label}`, SENTIMENTS[label] ?? label);

// ---- filters: dates are Tokyo calendar days; `to` is exclusive, so the chosen end day is included
function nextDay(isoDate) {
  const [y, m, d] = isoDate.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}

function readFilters() {
  const params = new URLSearchParams();
  const from = $("filter-from").value;
  const to = $("filter-to").value;
  if (from) params.set("from", `${from}T00:00:00`);
  if (to) params.set("to", `${nextDay(to)}T00:00:00`);
  for (const name of ["channel", "source", "segment"]) {
    const value = $(`filter-${name}`).value.trim();
    if (value) params.set(name, value);
  }
  return params;
}

function restoreFilters() {
  const query = new URLSearchParams(window.location.search);
  for (const name of FILTERS) {
    if (query.has(name)) $(`filter-${name}`).value = query.get(name);
  }
}

function rememberFilters() {
  const query = new URLSearchParams();
  for (const name of FILTERS) {
    const value = $(`filter-${name}`).value.trim();
    if (value) query.set(name, value);
  }
  const search = query.toString();
  window.history.replaceState(null, "", search ? `?${search}` : window.location.pathname);
}

// ---- API
async function api(path, filters, extra = {}) {
  const params = new URLSearchParams(filters);
  for (const [name, value] of Object.entries(extra)) params.set(name, String(value));
  const headers = { Accept: "application/json" };
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key) headers["X-API-Key"] = key;
  const response = await fetch(`/v1/${path}?${params}`, { headers });
  if (response.status === 401) throw new AuthRequired(key ? "invalid" : "missing");
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    throw new Error(`${path}: ${problem.detail ?? response.status}`);
  }
  return response.json();
}

function askForKey(reason) {
  $("api-key-message").textContent =
    reason === "invalid"
      ? "API キーが無効か失効しています。別のキーを貼り付けてください。"
      : "このデータを見るには API キーが必要です（このタブを閉じるまで保存されます）。";
  $("api-key-form").hidden = false;
  $("api-key").focus();
}

// ---- panels
function renderKpis(journey, scores) {
  $("kpi-n").textContent = integer(journey.n);
  const { nps, csat } = scores.overall;
  $("kpi-nps").textContent = signed(nps.score);
  $("kpi-nps-sub").textContent = nps.n ? `95 % 区間 ${range(nps.interval)}・回答 n = ${integer(nps.n)}` : "回答なし";
  $("kpi-nps-flag").hidden = !nps.indicative;
  $("kpi-csat").textContent = csat.score === null ? "—" : `${fixed(csat.score)} %`;
  $("kpi-csat-sub").textContent = csat.n ? `4〜5 の割合・95 % 区間 ${range(csat.interval)}・n = ${integer(csat.n)}` : "回答なし";
  const overall = journey.overall;
  $("kpi-net").textContent = overall.n ? signed(overall.net_sentiment, 2) : "—";
  $("kpi-net-sub").textContent = overall.n
    ? `ポジ − ネガ・95 % 区間 ${range(overall.net_sentiment_interval, 2)}・n = ${integer(overall.n)}`
    : "データなし";
}

function tooltipLines(...lines) {
  return el("div", "tooltip", ...lines.filter(Boolean).map((line) => el("div", null, line)));
}

function renderHeatmap(journey) {
  const xIndex = new Map(journey.stages.map((s, i) => [s.stage, i]));
  const yIndex = new Map(journey.topics.map((t, i) => [t.topic, i]));
  const stageLabel = new Map(journey.stages.map((s) => [s.stage, s.label]));
  const topicName = new Map(journey.topics.map((t) => [t.topic, t.name]));
  const data = journey.cells.map((cell) => ({
    value: [xIndex.get(cell.stage), yIndex.get(cell.topic), cell.net_sentiment ?? "-", cell.n],
    cell,
    title: `${stageLabel.get(cell.stage)} × ${topicName.get(cell.topic)}`,
  }));
  charts.heatmap.setOption(
    {
      grid: { left: 130, right: 20, top: 10, bottom: 80 },
      xAxis: { type: "category", data: journey.stages.map((s) => s.label), splitArea: { show: true } },
      yAxis: { type: "category", data: journey.topics.map((t) => t.name), inverse: true, splitArea: { show: true } },
      visualMap: {
        min: -1,
        max: 1,
        dimension: 2,
        orient: "horizontal",
        left: "center",
        bottom: 8,
        itemHeight: 240,
        calculable: false,
        precision: 2,
        text: ["+1 ポジティブ", "−1 ネガティブ"],
        inRange: { color: COLORS },
      },
      tooltip: {
        formatter: ({ data: d }) =>
          tooltipLines(
            d.title,
            `件数 ${integer(d.cell.n)}（ポジティブ ${d.cell.positive}・ネガティブ ${d.cell.negative}）`,
            `ネットセンチメント ${signed(d.cell.net_sentiment, 2)}（95 % 区間 ${range(d.cell.net_sentiment_interval, 2)}）`,
            d.cell.low_n ? "件数が少なく参考値です" : null,
          ),
      },
      series: [
        {
          type: "heatmap",
          data,
          label: { show: true, formatter: ({ data: d }) => integer(d.cell.n), fontWeight: 600 },
          emphasis: { itemStyle: { borderColor: "#1f2328", borderWidth: 2 } },
        },
      ],
    },
    true,
  );
  return data.length;
}

async function showQuotes(item) {
  const token = ++state.quotesToken;
  const box = $("quotes");
  box.replaceChildren(el("p", "muted", `${item.title}：読み込み中…`));
  const extra = { stage: item.cell.stage ?? "none", topic: item.cell.topic, limit: 20 };
  try {
    const page = await api("feedback", state.filters, extra);
    if (token !== state.quotesToken) return;
    const rows = page.data;
    const list = el("ul", "quote-list", ...rows.map(quoteRow));
    const heading = el("h3", null, `${item.title}：${integer(item.cell.n)} 件（新しい順に最大 20 件）`);
    box.replaceChildren(heading, rows.length ? list : el("p", "empty", "該当するフィードバックがありません。"));
  } catch (error) {
    if (token === state.quotesToken) box.replaceChildren(el("p", "empty", "フィードバックを読み込めませんでした。"));
    if (error instanceof AuthRequired) askForKey(error.message);
    else console.error(error);
  }
}

function quoteRow(feedback) {
  const label = feedback.analysis?.sentiment?.label;
  const meta = `${feedback.channel}・${feedback.source}・${day(feedback.written_at)}`;
  return el("li", null, label ? sentimentBadge(label) : null, el("span", "quote-text", feedback.text), el("span", "quote-meta", meta));
}

function bandRenderer(points) {
  const interval = (i) => points[i]?.nps.interval ?? null;
  return (params, api) => {
    const i = params.dataIndex;
    const here = interval(i);
    const next = interval(i + 1);
    if (!here) return null;
    if (next) {
      const shape = { points: [api.coord([i, here[0]]), api.coord([i + 1, next[0]]), api.coord([i + 1, next[1]]), api.coord([i, here[1]])] };
      return { type: "polygon", shape, style: { fill: "rgba(31, 111, 235, 0.15)" } };
    }
    if (interval(i - 1)) return null;
    // An isolated week: a bar, so its interval stays visible.
    const [low, high] = [api.coord([i, here[0]]), api.coord([i, here[1]])];
    return { type: "line", shape: { x1: low[0], y1: low[1], x2: high[0], y2: high[1] }, style: { stroke: "rgba(31, 111, 235, 0.3)", lineWidth: 8 } };
  };
}

function renderTrend(trends) {
  const points = trends.series[0]?.points ?? [];
  charts.trend.setOption(
    {
      grid: { left: 50, right: 30, top: 34, bottom: 30 },
      xAxis: {
        type: "category",
        boundaryGap: false,
        data: points.map((p) => p.period),
        axisLabel: { formatter: (period) => period.slice(5).replace("-", "/") },
      },
      yAxis: { type: "value", min: -100, max: 100, name: "NPS" },
      tooltip: {
        trigger: "axis",
        formatter: (params) => {
          const p = points[params[0].dataIndex];
          return tooltipLines(
            `${p.period} の週`,
            `NPS ${signed(p.nps.score)}（95 % 区間 ${range(p.nps.interval)}）`,
            `回答 n = ${integer(p.nps.n)}・件数 ${integer(p.n)}`,
            p.nps.indicative && p.nps.n ? "参考値（回答 400 未満）" : null,
          );
        },
      },
      series: [
        { type: "custom", name: "95 % 区間", renderItem: bandRenderer(points), data: points.map((_, i) => i), silent: true, z: 1 },
        { type: "line", name: "NPS", data: points.map((p) => p.nps.score), connectNulls: false, symbolSize: 7, z: 2 },
      ],
    },
    true,
  );
}

function renderPainPoints(result) {
  $("pain-period").textContent = `${day(result.period.start)} 〜 ${day(result.period.end)}（前の同じ長さの期間と比較）`;
  const rows = result.items.map((p) => {
    const change = el("span", p.negative_change > 0 ? "up" : p.negative_change < 0 ? "down" : null, `前期間比 ${signedInt(p.negative_change)}`);
    const figures = el("span", "card-figures", `ネガティブ ${integer(p.negative)} / ${integer(p.n)} 件・`, change);
    const quotes = el("ul", "card-quotes", ...p.quotes.map((q) => el("li", null, sentimentBadge(q.sentiment), " ", q.text)));
    return el("li", null, el("span", "card-title", p.name), figures, quotes);
  });
  $("pain-points").replaceChildren(...(rows.length ? rows : [el("li", "empty", "この期間のペインポイントはありません。")]));
}

function renderEmerging(result) {
  $("emerging-period").textContent = `直近 ${day(result.recent.start)} 〜 と、その前の ${day(result.baseline.start)} 〜 を比較`;
  const items = [...result.items].sort((a, b) => Number(b.flagged) - Number(a.flagged));
  const shown = items.slice(0, Math.max(EMERGING_SHOWN, items.filter((e) => e.flagged).length));
  const rows = shown.map((e) => {
    const figures = el(
      "span",
      "card-figures",
      `直近 ${integer(e.recent_n)} 件（${percent(e.recent_share)}）／基準 ${integer(e.baseline_n)} 件（${percent(e.baseline_share)}）`,
    );
    const reasons = e.reasons.map((r) => el("span", "reason", REASONS[r] ?? r));
    return el("li", e.flagged ? "flagged" : null, el("span", "card-title", e.name), ` ${KINDS[e.kind] ?? e.kind}`, figures, ...reasons);
  });
  $("emerging").replaceChildren(...(rows.length ? rows : [el("li", "empty", "比較できるデータがありません。")]));
}

function renderKeywords(result) {
  $("keywords-note").textContent = result.rest_documents
    ? `絞り込んだ ${integer(result.documents)} 件を、それ以外の ${integer(result.rest_documents)} 件と比べて特徴的な語`
    : "比較対象がありません。チャネル・ソース・セグメントで絞り込むと、それ以外と比べて特徴的な語を表示します。";
  const rows = result.terms.map((t) =>
    el("tr", null, el("td", null, t.term), el("td", "num", integer(t.count)), el("td", "num", integer(t.rest_count)), el("td", "num", fixed(t.z, 2))),
  );
  $("keywords").tBodies[0].replaceChildren(...rows);
}

function renderEmotions(result) {
  $("emotions-note").textContent = result.scored
    ? `学習済みモデルが感情を判定した ${integer(result.scored)} 件のうち、各感情が表れている件数と割合（1 件に複数の感情があり得ます）`
    : "感情を判定した声がありません（感情は学習済みモデル koe-accurate だけが判定し、ルール解析では判定しません）。";
  const shown = result.scored ? [...result.emotions].sort((a, b) => b.n - a.n) : [];
  const rows = shown.map((e) => el("tr", null, el("td", null, e.label), el("td", "num", integer(e.n)), el("td", "num", percent(e.share))));
  $("emotions").tBodies[0].replaceChildren(...rows);
}

function renderAspects(result) {
  $("aspects-note").textContent = result.scored
    ? `学習済みモデルが対象と評価語を抽出した ${integer(result.scored)} 件で、否定的に語られた回数の多い順（表記ゆれは全角・半角と大文字・小文字だけ寄せています）`
    : "対象を抽出した声がありません（対象と評価語は学習済みモデル（koe-accurate・koe-fast）だけが抽出し、ルール解析では抽出しません）。";
  const criticized = result.aspects.filter((a) => a.negative > 0); // the ranking runs on into praised-only terms
  const rows = criticized.map((a) =>
    el(
      "tr",
      null,
      el("td", null, a.term),
      el("td", "num", integer(a.mentions)),
      el("td", "num", integer(a.positive)),
      el("td", "num", integer(a.negative)),
      el("td", "num", percent(a.negative_share)),
    ),
  );
  $("aspects").tBodies[0].replaceChildren(...rows);
}

// ---- loading
async function reload() {
  const generation = ++state.generation;
  const current = (render) => (value) => (generation === state.generation ? render(value) : undefined);
  window.koeDashboard = { cells: 0, loaded: false };
  state.filters = readFilters();
  rememberFilters();
  setStatus("読み込み中…");
  $("quotes").replaceChildren(el("p", "muted", "ヒートマップのセルを選ぶと、ここに該当するフィードバックが表示されます。"));
  const get = (path, extra) => api(`analytics/${path}`, state.filters, extra);
  const journey = get("journey");
  const scores = get("scores");
  const trends = get("trends", { interval: "week" });
  let cells = 0;
  const results = await Promise.allSettled([
    Promise.all([journey, scores]).then(([j, s]) => current(() => renderKpis(j, s))()),
    journey.then(current((j) => (cells = renderHeatmap(j)))),
    trends.then(current(renderTrend)),
    get("pain-points", { limit: 5 }).then(current(renderPainPoints)),
    get("emerging").then(current(renderEmerging)),
    get("keywords", { limit: 20 }).then(current(renderKeywords)),
    get("emotions").then(current(renderEmotions)),
    get("aspects", { rank_by: "negative", limit: 10 }).then(current(renderAspects)),
  ]);
  if (generation !== state.generation) return;
  finish(results.filter((r) => r.status === "rejected").map((r) => r.reason));
  window.koeDashboard = { cells, loaded: true };
}

function finish(errors) {
  const auth = errors.find((e) => e instanceof AuthRequired);
  if (auth) {
    askForKey(auth.message);
    setStatus("API キーが必要です。", true);
  } else if (errors.length) {
    errors.forEach((e) => console.error(e));
    setStatus(`一部のパネルを読み込めませんでした：${errors[0].message}`, true);
  } else {
    setStatus(`更新 ${new Date().toLocaleTimeString("ja-JP", { timeZone: "Asia/Tokyo" })}`);
  }
}

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

function start() {
  charts.heatmap = echarts.init($("heatmap"));
  charts.trend = echarts.init($("nps-trend"));
  charts.heatmap.on("click", (params) => params.data?.cell && showQuotes(params.data));
  window.addEventListener("resize", () => Object.values(charts).forEach((chart) => chart.resize()));
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    reload();
  });
  $("api-key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
    $("api-key").value = "";
    $("api-key-form").hidden = true;
    reload();
  });
  restoreFilters();
  reload();
}

start();
