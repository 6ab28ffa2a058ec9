/* A small SVG line chart (no library): lineChart(element, [{name, points: [[ms, value], ...]}])
 * draws every series on shared axes with a legend; element.dataset.points holds how many
 * points were drawn (the browser test reads it). */
'use strict';
const CHART_COLORS = ['#2f7ed8', '#e4572e', '#29a35a', '#a05ad8', '#d8a02f', '#2fb8d8', '#777'];

function lineChart(el, series) {
  const W = 720, H = 220, L = 56, R = 130, T = 10, B = 26;
  const NS = 'http://www.w3.org/2000/svg';
  const mk = (tag, attrs, text) => {
    const e = document.createElementNS(NS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const all = series.flatMap(s => s.points);
  el.textContent = '';
  el.dataset.points = String(all.length);
  const svg = mk('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}` });
  el.appendChild(svg);
  if (all.length === 0) {
    svg.appendChild(mk('text', { x: W / 2 - 40, y: H / 2 }, 'no data yet'));
    return;
  }
  let x0 = Math.min(...all.map(p => p[0])), x1 = Math.max(...all.map(p => p[0]));
  let y1 = Math.max(...all.map(p => p[1]), 1);
  if (x1 === x0) x1 = x0 + 1000;
  const nice = Math.pow(10, Math.floor(Math.log10(y1)));
  y1 = Math.ceil(y1 / nice) * nice;
  const px = t => L + (t - x0) / (x1 - x0) * (W - L - R);
  const py = v => H - B - v / y1 * (H - T - B);
  for (let i = 0; i <= 4; i++) { /* horizontal grid with values */
    const v = y1 * i / 4, y = py(v);
    svg.appendChild(mk('line', { x1: L, x2: W - R, y1: y, y2: y, stroke: '#eceff4' }));
    svg.appendChild(mk('text', { x: 4, y: y + 4 }, v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)));
  }
  const hhmmss = t => new Date(t).toTimeString().slice(0, 8);
  svg.appendChild(mk('text', { x: L, y: H - 6 }, hhmmss(x0)));
  svg.appendChild(mk('text', { x: W - R - 50, y: H - 6 }, hhmmss(x1)));
  series.forEach((s, i) => {
    const c = CHART_COLORS[i % CHART_COLORS.length];
    const pts = s.points.map(p => `${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ');
    svg.appendChild(mk('polyline', { points: pts, fill: 'none', stroke: c, 'stroke-width': 2 }));
    if (s.points.length === 1) {
      const p = s.points[0];
      svg.appendChild(mk('circle', { cx: px(p[0]), cy: py(p[1]), r: 3, fill: c }));
    }
    const last = s.points.length ? s.points[s.points.length - 1][1] : 0;
    svg.appendChild(mk('rect', { x: W - R + 8, y: T + i * 16, width: 10, height: 10, fill: c }));
    svg.appendChild(mk('text', { x: W - R + 22, y: T + 9 + i * 16 },
                       `${s.name.slice(0, 14)} ${last >= 100 ? last.toFixed(0) : last.toFixed(1)}`));
  });
}
