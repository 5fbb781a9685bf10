//! The printed table, the ratios and the targets.

use crate::measure::Sample;

/// One measured (or pending) run.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub key: String,
    pub label: String,
    pub sample: Option<Sample>,
    pub bytes: Option<u64>,
    pub ssim: Option<f64>,
    pub jitter: Option<f64>,
    /// Shown instead of the numbers when there is no sample (e.g. `pending`).
    pub note: String,
}

#[derive(Debug, Default)]
pub struct Table {
    pub rows: Vec<Row>,
    /// `## …` headings before the row with this index.
    pub sections: Vec<(usize, String)>,
}

fn mib(kib: u64) -> String {
    format!("{:.0}", kib as f64 / 1024.0)
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.filter(|v| v.is_finite()).map_or("—".into(), |v| format!("{v:.digits$}"))
}

impl Table {
    pub fn section(&mut self, title: &str) {
        self.sections.push((self.rows.len(), title.to_owned()));
    }

    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    pub fn get(&self, key: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.key == key)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Row> {
        self.rows.iter_mut().find(|r| r.key == key)
    }

    pub fn sample(&self, key: &str) -> Option<Sample> {
        self.get(key).and_then(|r| r.sample)
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("| run | wall s | CPU s | peak RSS MiB (largest process) | peak RSS MiB (process tree) | output bytes | SSIM | jitter px RMS |\n");
        out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for (i, r) in self.rows.iter().enumerate() {
            for (_, title) in self.sections.iter().filter(|(at, _)| *at == i) {
                out.push_str(&format!("| **{title}** | | | | | | | |\n"));
            }
            let bytes = r.bytes.map_or("—".into(), |b| b.to_string());
            match r.sample {
                Some(s) => out.push_str(&format!(
                    "| {} | {:.2} | {:.2} | {} | {} | {bytes} | {} | {} |\n",
                    r.label,
                    s.wall_s,
                    s.cpu_s(),
                    mib(s.max_rss_kib),
                    mib(s.tree_rss_kib),
                    opt(r.ssim, 4),
                    opt(r.jitter, 4)
                )),
                None => out.push_str(&format!("| {} | {} | {} | | | | | |\n", r.label, r.note, r.note)),
            }
        }
        out
    }

    /// `a`/`b` for wall, CPU, both RSS peaks and bytes.
    pub fn ratio_line(&self, label: &str, a: &str, b: &str) -> String {
        let (ra, rb) = (self.get(a), self.get(b));
        let (Some(sa), Some(sb)) = (ra.and_then(|r| r.sample), rb.and_then(|r| r.sample)) else {
            return format!("| {label} | pending | pending | | | |\n");
        };
        let x = |p: f64, q: f64| if q > 0.0 { format!("{:.2}×", p / q) } else { "—".into() };
        let bytes = match (ra.and_then(|r| r.bytes), rb.and_then(|r| r.bytes)) {
            (Some(p), Some(q)) => x(p as f64, q as f64),
            _ => "—".into(),
        };
        format!(
            "| {label} | {} | {} | {} | {} | {bytes} |\n",
            x(sa.wall_s, sb.wall_s),
            x(sa.cpu_s(), sb.cpu_s()),
            x(sa.max_rss_kib as f64, sb.max_rss_kib as f64),
            x(sa.tree_rss_kib as f64, sb.tree_rss_kib as f64)
        )
    }
}

pub const RATIO_HEADER: &str = "| ratio | wall | CPU | RSS (largest) | RSS (tree) | bytes |\n|---|---:|---:|---:|---:|---:|\n";

/// One target: PASS, FAIL, or PENDING when a number is missing.
pub fn target(name: &str, measured: Option<f64>, pass: impl Fn(f64) -> bool, shown: impl Fn(f64) -> String) -> String {
    match measured.filter(|v| v.is_finite()) {
        Some(v) => format!("{} {name}: {}", if pass(v) { "PASS" } else { "FAIL" }, shown(v)),
        None => format!("PENDING {name}: not measured"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_ratios() {
        let mut t = Table::default();
        t.section("Ken Burns");
        let s = Sample { wall_s: 2.0, user_s: 3.0, sys_s: 1.0, max_rss_kib: 2048, tree_rss_kib: 4096 };
        t.push(Row { key: "a".into(), label: "seed".into(), sample: Some(s), bytes: Some(100), ssim: Some(0.9), ..Row::default() });
        t.push(Row { key: "b".into(), label: "ours".into(), sample: Some(Sample { wall_s: 1.0, ..s }), bytes: Some(50), ..Row::default() });
        t.push(Row { key: "c".into(), label: "later".into(), note: "pending".into(), ..Row::default() });
        let text = t.render();
        assert!(text.contains("| **Ken Burns** |"), "{text}");
        assert!(text.contains("| seed | 2.00 | 4.00 | 2 | 4 | 100 | 0.9000 | — |"), "{text}");
        assert!(text.contains("| later | pending | pending |"), "{text}");
        assert_eq!(t.ratio_line("seed/ours", "a", "b"), "| seed/ours | 2.00× | 1.00× | 1.00× | 1.00× | 2.00× |\n");
        assert!(t.ratio_line("x", "a", "c").contains("pending"));
        assert_eq!(target("t", Some(3.5), |v| v >= 3.0, |v| format!("{v}×")), "PASS t: 3.5×");
        assert_eq!(target("t", None, |v| v >= 3.0, |v| format!("{v}")), "PENDING t: not measured");
    }
}
