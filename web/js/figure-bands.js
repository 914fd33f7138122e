// A timeline of states beside the cluster (figure-chart.js draws it for a chart of
// `kind: 'bands'`): one row per thing (services: a breaker on a call edge), each a strip of
// coloured bands from one change of state to the next. Time runs left to right in steps of the
// series (`xScale` seconds a step, as the line charts), up to `xmax` steps; `key`, if given,
// names the colours ([{ label, color }]) in a row over the strips.

/** A chart's canvas sized to its box at the screen's pixel ratio and cleared, with the page's
 * ink and line colours; null while it is hidden or has no size. */
export function clearedCanvas(box, canvas) {
  if (canvas.hidden) return null;
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (!w || !h) return null;
  if (canvas.width !== Math.round(w * dpr)) canvas.width = Math.round(w * dpr);
  if (canvas.height !== Math.round(h * dpr)) canvas.height = Math.round(h * dpr);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const css = getComputedStyle(box);
  return { ctx, w, h, ink: css.getPropertyValue('--ink').trim() || '#222', faint: css.getPropertyValue('--line').trim() || '#ccc' };
}

export function drawBands(box, canvas, spec) {
  const c = clearedCanvas(box, canvas);
  if (!c) return;
  const { ctx, w, h, ink, faint } = c;
  // The same margins as the line charts above, so that their time axes line up.
  const left = 42;
  const right = 8;
  // `key`: the colours' meaning, in a row over the strips.
  const top = spec.key?.length ? 18 : 4;
  const pw = w - left - right;
  const rowH = 26;
  const xmax = Math.max(1, spec.xmax ?? 1);
  const X = (v) => left + (Math.min(xmax, Math.max(0, v)) / xmax) * pw;
  ctx.font = '11px system-ui, sans-serif';
  spec.rows.forEach((row, k) => {
    const y = top + k * rowH;
    // The row's name over its strip.
    ctx.fillStyle = ink;
    ctx.textAlign = 'left';
    ctx.fillText(row.label, left, y + 10);
    for (const b of row.bands) {
      const x0 = X(b.from);
      const x1 = X(b.to);
      if (x1 <= x0) continue;
      ctx.fillStyle = b.color;
      ctx.fillRect(x0, y + 13, Math.max(1, x1 - x0), rowH - 15);
    }
  });
  let kx = left;
  for (const k of spec.key ?? []) {
    ctx.fillStyle = k.color;
    ctx.fillRect(kx, 4, 10, 10);
    ctx.fillStyle = ink;
    ctx.textAlign = 'left';
    ctx.fillText(k.label, kx + 13, 13);
    kx += 13 + ctx.measureText(k.label).width + 12;
  }
  // The time axis under the rows.
  const base = top + spec.rows.length * rowH + 2;
  ctx.strokeStyle = faint;
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(left, base);
  ctx.lineTo(left + pw, base);
  ctx.stroke();
  ctx.fillStyle = ink;
  ctx.textAlign = 'center';
  const step = Math.max(1, Math.ceil(xmax / 8));
  for (let i = 0; i <= xmax; i += step) {
    const label = spec.xScale ? String(Math.round(i * spec.xScale * 10) / 10) : String(i);
    ctx.fillText(label, X(i), base + 12);
  }
  if (spec.xLabel) ctx.fillText(spec.xLabel, left + pw / 2, h - 2);
}
