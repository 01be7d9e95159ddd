// Chart.js, registered with only what the dashboard draws (tree-shaken, bundled: no CDN).
// Loaded on demand by the dashboard page. Chart.js sets sizes through the CSSOM, which the
// app's CSP (style-src 'self') allows; it injects no stylesheet.
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartConfiguration,
} from "chart.js";

Chart.register(BarController, BarElement, CategoryScale, Filler, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip);

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

export interface Series { label: string; data: (number | null)[]; kind?: "bar" | "line"; axis?: "y" | "y2"; color?: string; dashed?: boolean }

const PALETTE = ["--brand", "--ok", "--warn", "--bad"];

export function drawChart(canvas: HTMLCanvasElement, labels: string[], series: Series[], opts: { yTitle: string; y2Title?: string; stacked?: boolean }): Chart {
  const muted = cssVar("--muted");
  const line = cssVar("--line");
  Chart.defaults.color = muted;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  const config: ChartConfiguration = {
    type: "bar",
    data: {
      labels,
      datasets: series.map((s, i) => {
        const color = s.color ?? cssVar(PALETTE[i % PALETTE.length]);
        return {
          type: s.kind ?? "bar",
          label: s.label,
          data: s.data,
          yAxisID: s.axis ?? "y",
          backgroundColor: s.kind === "line" ? color : `${color}cc`,
          borderColor: color,
          borderWidth: s.kind === "line" ? 2 : 0,
          borderDash: s.dashed ? [6, 4] : undefined,
          pointRadius: s.kind === "line" ? 2 : 0,
          spanGaps: true,
          tension: 0.25,
          stack: opts.stacked && s.kind !== "line" ? "calls" : undefined,
        } as never;
      }),
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
      scales: {
        x: { stacked: opts.stacked, grid: { color: line }, ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 10 } },
        y: { stacked: opts.stacked, beginAtZero: true, grid: { color: line }, title: { display: true, text: opts.yTitle } },
        ...(opts.y2Title
          ? { y2: { position: "right", beginAtZero: true, max: 100, grid: { drawOnChartArea: false }, title: { display: true, text: opts.y2Title } } }
          : {}),
      },
    },
  };
  return new Chart(canvas, config);
}
