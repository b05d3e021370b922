//! `rtcbill report` (README, Report): the sample's page is self-contained, renders in headless
//! Chromium with every chart drawn, and shows the figures the outputs hold, read here
//! independently. And the summary `run`, `backfill` and `nightly` end with (README, Jobs).
//!
//! The Chromium test uses Debian's `chromium` package: when it is missing the test installs
//! it with `apt-get update && apt-get install -y chromium` (as root) and says so.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use rust_decimal::Decimal;

use crate::common::*;

/// Every chart of the page, by figure id, with its title (or the start of it).
const CHARTS: [(&str, &str); 8] = [
    ("chart-revenue", "Overage revenue per day by usage class (USD)"),
    ("chart-sales", "Package sales per day (USD)"),
    ("chart-minutes", "Minutes per day"),
    ("chart-package-fill", "How full packages are on 2026-11-01"),
    ("chart-packages", "Packages per day"),
    ("chart-arrears", "Arrears per day (accounts)"),
    ("chart-quality", "Rejected usage slices per day by reason"),
    ("chart-restatements", "Restated bills: old and new amounts (USD)"),
];

/// Debian's chromium, installed with apt-get when missing.
fn chromium() -> PathBuf {
    let found = |p: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {p}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !found("chromium") {
        eprintln!("chromium is missing: installing Debian's chromium package (apt-get update && apt-get install -y chromium)");
        let ok = Command::new("sh")
            .args(["-c", "apt-get update && apt-get install -y chromium"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .expect("runs apt-get")
            .success();
        assert!(
            ok && found("chromium"),
            "apt-get install -y chromium failed (the test needs root and Debian's package lists)"
        );
    }
    PathBuf::from("chromium")
}

/// Runs headless Chromium on `page` with `args`, with a fresh profile and no network use.
fn headless(page: &Path, args: &[&str]) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    let o = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
        ])
        .args(["--disable-component-update", "--disable-sync"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("runs chromium");
    assert!(o.status.success(), "chromium {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    o
}

/// The text between `open` (found from `from`) and the next `close` after it.
fn section<'a>(s: &'a str, open: &str, close: &str) -> &'a str {
    let a = s.find(open).unwrap_or_else(|| panic!("{open} not in the page"));
    let rest = &s[a + open.len()..];
    &rest[..rest.find(close).unwrap_or_else(|| panic!("{close} after {open}"))]
}

/// The text of an HTML fragment: tags dropped, entities of the page decoded.
fn text_of(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
        .trim()
        .to_string()
}

/// A table of the page by id: its header cells and body rows, as text.
fn table(dom: &str, id: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let t = section(dom, &format!("<table id=\"{id}\">"), "</table>");
    let cells = |row: &str, tag: &str| -> Vec<String> {
        row.split(&format!("<{tag}"))
            .skip(1)
            .map(|c| text_of(&format!("<{tag}{}", c.split(&format!("</{tag}>")).next().unwrap())))
            .collect()
    };
    let head = cells(section(t, "<thead>", "</thead>"), "th");
    let body =
        section(t, "<tbody>", "</tbody>").split("<tr>").skip(1).map(|r| cells(r, "td")).collect();
    (head, body)
}

/// A cell of a one-row table by its header.
fn cell(dom: &str, id: &str, header: &str) -> String {
    let (head, rows) = table(dom, id);
    let i = head
        .iter()
        .position(|h| h == header)
        .unwrap_or_else(|| panic!("{id} has no column {header}: {head:?}"));
    rows[0][i].clone()
}

/// The second cell of the row whose first cell is `key`.
fn by_key(dom: &str, id: &str, key: &str) -> String {
    let (_, rows) = table(dom, id);
    rows.iter().find(|r| r[0] == key).unwrap_or_else(|| panic!("{id} has no row {key}: {rows:?}"))
        [1]
    .clone()
}

/// A displayed number ("1,234.50", "5,258.89 USD") as a decimal; checks its separators.
fn number(s: &str) -> Decimal {
    let n = s.split_whitespace().next().unwrap();
    let digits = n.trim_start_matches('-').split('.').next().unwrap();
    let groups: Vec<&str> = digits.split(',').collect();
    assert!(
        groups[0].len() <= 3 && groups[1..].iter().all(|g| g.len() == 3),
        "{s} lacks thousands separators"
    );
    n.replace(',', "").parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn money(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}

fn kpi(dom: &str, id: &str) -> String {
    text_of(section(
        section(dom, &format!("id=\"{id}\""), "</div></div>"),
        "<div class=\"value\">",
        "</div>",
    ))
}

/// Whether a chart's SVG draws data: a fill colour on two or more bars or areas (a legend
/// swatch shows each colour once), or any point of a line.
fn draws_data(svg: &str) -> bool {
    let mut fills: BTreeMap<String, usize> = BTreeMap::new();
    let mut points = 0;
    for tag in ["<rect", "<polygon", "<circle"] {
        for el in svg.split(tag).skip(1) {
            let el = &el[..el.find('>').unwrap()];
            let fill = el
                .split("fill=\"")
                .nth(1)
                .map(|f| f[..f.find('"').unwrap()].to_ascii_uppercase())
                .unwrap_or_default();
            if fill.is_empty() || fill == "#FFFFFF" || fill == "NONE" {
                continue;
            }
            if tag == "<circle" {
                points += 1;
            } else {
                *fills.entry(fill).or_default() += 1;
            }
        }
    }
    points > 0 || fills.values().any(|n| *n >= 2)
}

/// Runs the binary in `dir` (relative paths as a person types them) and asserts success.
fn in_dir(dir: &Path, args: &[&str]) -> std::process::Output {
    ok(Command::new(bin()).current_dir(dir).args(args).env("RTCBILL_LOG", "warn").output().unwrap())
}

/// The README's commands in a fresh folder: the sample billed into `out/` (`rtcbill run`),
/// then a late usage file for 2026-09-10 (6000 s of audio for app 100401, account 1004, no
/// package) found by a backfill: one restated bill. Returns the folder and the backfill's
/// summary.
fn sample_with_a_restatement() -> (tempfile::TempDir, String) {
    let w = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("sample-data"), &w.path().join("sample-data"));
    in_dir(w.path(), &["run", "--quiet"]);
    let late = Slice { app_id: Some(100401), ..slice("late-1", "2026-09-10T03:00:00Z", 6000) };
    write_usage(&w.path().join("sample-data/usage/usage_date=2026-09-10/late-0.parquet"), &[late]);
    let o = in_dir(w.path(), &["backfill", "--from", "2026-09-10"]);
    (w, String::from_utf8(o.stdout).unwrap())
}

fn sum(rows: &[Row], k: &str) -> Decimal {
    rows.iter().map(|r| dec(r, k)).sum()
}

#[test]
fn the_sample_report_is_self_contained_renders_every_chart_in_chromium_and_shows_the_outputs_figures(
) {
    let (w, backfill_summary) = sample_with_a_restatement();
    let (data, out) = (w.path().join("sample-data"), w.path().join("out"));
    assert!(
        backfill_summary.contains("Billed 53 days (2026-09-10 to 2026-11-01)."),
        "{backfill_summary}"
    );
    assert!(backfill_summary.contains("revised bills     1\n"), "{backfill_summary}");

    let dir = repo().join("target/report-test");
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("report.html");
    let started = std::time::Instant::now();
    in_dir(w.path(), &["report", "--out", page.to_str().unwrap()]);
    eprintln!("report of 62 days written in {:.2} s", started.elapsed().as_secs_f64());
    let html = std::fs::read_to_string(&page).unwrap();

    // Self-contained: no URL, no script, no external style or image.
    for banned in ["http://", "https://", "<script", "<link", " src=", "url(", "@import"] {
        assert!(!html.contains(banned), "the page holds {banned:?}");
    }
    assert_eq!(html.matches("<svg").count(), CHARTS.len());

    // Rendered by Chromium: a screenshot, and the DOM it built.
    let png = dir.join("report.png");
    let _ = std::fs::remove_file(&png);
    headless(&page, &[&format!("--screenshot={}", png.display()), "--window-size=1400,4000"]);
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 100_000, "{} bytes", bytes.len());
    let dom = String::from_utf8(headless(&page, &["--dump-dom"]).stdout).unwrap();
    assert!(dom.contains("rtcbill billing report"), "{dom}");

    // Every chart is there, with its title, axes, legend, and data drawn.
    let mut all_texts = Vec::new();
    for (id, title) in CHARTS {
        let fig = section(&dom, &format!("<figure class=\"chart\" id=\"{id}\">"), "</figure>");
        let svg = section(fig, "<svg", "</svg>");
        let texts: Vec<String> = svg
            .split("<text")
            .skip(1)
            .map(|t| text_of(&format!("<text{}", t.split("</text>").next().unwrap())))
            .collect();
        assert!(
            texts.iter().any(|t| t.starts_with(title)),
            "{id}: no title {title:?} in {texts:?}"
        );
        assert!(texts.len() >= 8, "{id}: axis labels and legend missing");
        all_texts.extend(texts);
        assert!(draws_data(svg), "{id} draws no data");
    }
    for axis in [
        "billing day",
        "USD per day",
        "minutes per day",
        "packages",
        "accounts",
        "slices per day",
        "minutes used / minutes total",
    ] {
        assert!(all_texts.iter().any(|t| t == axis), "no axis {axis:?}");
    }

    // Headline figures, against the outputs read here.
    let bills = read_dataset(&out, "bills");
    let billed = sum(&bills, "amount");
    assert_eq!(number(&kpi(&dom, "kpi-billed")), billed);
    assert!(kpi(&dom, "kpi-billed").ends_with(" USD"));
    let collected: Decimal = bills
        .iter()
        .map(|b| {
            dec(b, "amount").min(dec(b, "balance_before").max(Decimal::ZERO)).max(Decimal::ZERO)
        })
        .sum();
    assert_eq!(number(&kpi(&dom, "kpi-collected")), collected);
    let accounts: BTreeSet<i64> = bills.iter().map(|b| int(b, "account_id")).collect();
    assert_eq!(number(&kpi(&dom, "kpi-accounts")), Decimal::from(accounts.len()));
    let status: Vec<Row> = read_dataset(&out, "account_status")
        .into_iter()
        .filter(|r| text(r, "billing_date") == "2026-11-01")
        .collect();
    let in_state = |s: &str| status.iter().filter(|r| text(r, "state") == s).count();
    assert_eq!(number(&kpi(&dom, "kpi-arrears")), Decimal::from(in_state("in_arrears")));
    assert_eq!(number(&kpi(&dom, "kpi-suspended")), Decimal::from(in_state("suspended")));
    assert!(in_state("suspended") > 0);

    // Revenue: overage by class, package sales by kind (charged: after the opening time).
    let charges = read_dataset(&out, "charges");
    for class in ["audio", "video_hd", "video_fhd", "video_2k", "video_4k"] {
        let want: Decimal = charges
            .iter()
            .filter(|c| text(c, "usage_class") == class)
            .map(|c| dec(c, "amount"))
            .sum();
        assert_eq!(number(&cell(&dom, "table-revenue", class)), money(want), "{class}");
    }
    assert_eq!(
        number(&cell(&dom, "table-revenue", "overage (USD)")),
        money(sum(&charges, "amount"))
    );
    let opening: BTreeMap<i64, String> = read_file(&data.join("accounts/part-0.parquet"))
        .iter()
        .map(|a| (int(a, "account_id"), text(a, "opening_time").to_string()))
        .collect();
    let orders = read_dataset(&out, "orders");
    let sold = |kind: &str| -> Decimal {
        orders
            .iter()
            .filter(|o| {
                text(o, "status") == "accepted"
                    && text(o, "kind") == kind
                    && !o["amount"].is_null()
                    && !o["account_id"].is_null()
            })
            .filter(|o| text(o, "time") > opening[&int(o, "account_id")].as_str())
            .map(|o| dec(o, "amount"))
            .sum()
    };
    for (kind, col) in [("purchase", "purchases"), ("renewal", "renewals"), ("upgrade", "upgrades")]
    {
        assert_eq!(number(&cell(&dom, "table-sales", col)), sold(kind), "{kind}");
    }
    assert!(sold("renewal") > Decimal::ZERO && sold("upgrade") > Decimal::ZERO);

    // Minutes: metered = covered by each kind + overage.
    let usage = read_dataset(&out, "usage_daily");
    let deductions = read_dataset(&out, "deductions");
    let metered: i64 = usage.iter().map(|u| int(u, "billable_minutes")).sum();
    let covered = |k: &str| {
        deductions
            .iter()
            .filter(|d| text(d, "package_kind") == k)
            .map(|d| int(d, "usage_minutes"))
            .sum::<i64>()
    };
    let overage: i64 = charges.iter().map(|c| int(c, "minutes")).sum();
    assert_eq!(number(&cell(&dom, "table-minutes", "metered")), Decimal::from(metered));
    assert_eq!(number(&cell(&dom, "table-minutes", "free")), Decimal::from(covered("free")));
    assert_eq!(number(&cell(&dom, "table-minutes", "monthly")), Decimal::from(covered("monthly")));
    assert_eq!(number(&cell(&dom, "table-minutes", "top-up")), Decimal::from(covered("topup")));
    assert_eq!(number(&cell(&dom, "table-minutes", "overage")), Decimal::from(overage));
    assert_eq!(metered, covered("free") + covered("monthly") + covered("topup") + overage);

    // Packages on the last day, and failed renewals over the range.
    let balances: Vec<Row> = read_dataset(&out, "package_balances")
        .into_iter()
        .filter(|r| text(r, "billing_date") == "2026-11-01")
        .collect();
    assert_eq!(
        number(&cell(&dom, "table-packages", "cycles on 2026-11-01")),
        Decimal::from(balances.len())
    );
    assert_eq!(
        number(&cell(&dom, "table-packages", "exhausted")),
        Decimal::from(balances.iter().filter(|b| text(b, "status") == "exhausted").count())
    );
    assert_eq!(
        number(&cell(&dom, "table-packages", "ending within 7 days")),
        Decimal::from(balances.iter().filter(|b| text(b, "cycle_end") <= "2026-11-08").count())
    );
    let events = read_dataset(&out, "status_events");
    let failed = events.iter().filter(|e| text(e, "event") == "renewal_failed").count();
    assert_eq!(
        number(&cell(&dom, "table-packages", "failed renewals (range)")),
        Decimal::from(failed)
    );

    // Accounts suspended now: each with its amount due and reclaim date.
    let (head, rows) = table(&dom, "table-suspended");
    assert_eq!(head, ["account", "due (USD)", "suspended (+08:00)", "reclaim (+08:00)"]);
    let mut want: Vec<(String, Decimal)> = status
        .iter()
        .filter(|r| text(r, "state") == "suspended")
        .map(|r| (int(r, "account_id").to_string(), dec(r, "amount_due")))
        .collect();
    want.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let got: Vec<(String, Decimal)> = rows.iter().map(|r| (r[0].clone(), number(&r[1]))).collect();
    assert_eq!(got, want);
    // instants in the billing zone: suspended at a grace deadline (a bill time + 24 h: 08:00),
    // reclaimed 60 days later
    for r in &rows {
        assert!(r[2].ends_with(" 08:00") && r[3].ends_with(" 08:00"), "{r:?}");
        let day = |s: &str| chrono::NaiveDate::parse_from_str(&s[..10], "%Y-%m-%d").unwrap();
        assert_eq!((day(&r[3]) - day(&r[2])).num_days(), 60, "{r:?}");
    }

    // Data quality: rejects by reason; collapsed = raw slices - accepted - rejected.
    let rejected = read_dataset(&out, "rejected_usage");
    let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
    for r in &rejected {
        *by_reason.entry(text(r, "reason").to_string()).or_default() += 1;
    }
    for (reason, n) in &by_reason {
        assert_eq!(number(&by_key(&dom, "table-quality", reason)), Decimal::from(*n), "{reason}");
    }
    assert_eq!(number(&by_key(&dom, "table-quality", "rejected")), Decimal::from(rejected.len()));
    let mut raw = 0usize;
    for day in std::fs::read_dir(data.join("usage")).unwrap() {
        for f in std::fs::read_dir(day.unwrap().path()).unwrap() {
            raw += read_file(&f.unwrap().path()).len();
        }
    }
    let accepted: i64 = usage.iter().map(|u| int(u, "slices")).sum();
    let collapsed = raw - accepted as usize - rejected.len();
    assert!(collapsed > 0);
    assert_eq!(
        number(&by_key(&dom, "table-quality", "collapsed duplicates")),
        Decimal::from(collapsed)
    );

    // Restatements: the late file's bill, old and new amounts.
    let revisions = read_dataset(&out, "bill_revisions");
    assert_eq!(revisions.len(), 1);
    let (_, rows) = table(&dom, "table-restatements");
    assert_eq!(rows.len(), 1);
    let (r, new) = (
        &revisions[0],
        bills.iter().find(|b| text(b, "bill_id") == "daily-1004-20260910").unwrap(),
    );
    assert_eq!(rows[0][0], "daily-1004-20260910");
    assert_eq!(number(&rows[0][3]), dec(r, "amount"));
    assert_eq!(number(&rows[0][5]), dec(new, "amount"));
    assert_eq!(number(&rows[0][6]), dec(new, "amount") - dec(r, "amount"));
    assert_eq!(rows[0][7], "2026-11-01");

    // verify over the same days: every check holds.
    assert!(text_of(section(&dom, "<section id=\"verify\">", "</section>"))
        .contains("9 checks, 0 failed"));
}

#[test]
fn report_range_and_errors() {
    let out = tempfile::tempdir().unwrap();
    let data = repo().join("sample-data");
    let d = data.to_str().unwrap();
    run_ok(&data, out.path(), &["--quiet", "--to", "2026-09-05"]);
    let page = out.path().join("r.html");
    let p = page.to_str().unwrap();
    let o = out.path().to_str().unwrap();
    ok(rtcbill(&[
        "report",
        "--outputs",
        o,
        "--data",
        d,
        "--from",
        "2026-09-02",
        "--to",
        "2026-09-03",
        "--out",
        p,
    ]));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("Billing days 2026-09-02 to 2026-09-03"), "range not shown");
    let bills: Decimal = read_dataset(out.path(), "bills")
        .iter()
        .filter(|b| ["2026-09-02", "2026-09-03"].contains(&text(b, "billing_date")))
        .map(|b| dec(b, "amount"))
        .sum();
    assert!(html.contains(&format!("<div class=\"value\">{} USD</div>", shown(bills))), "{bills}");
    // no day in the range, no published run: bad input (65); --to before --from: usage (64)
    assert_eq!(
        rtcbill(&["report", "--outputs", o, "--data", d, "--from", "2026-10-01", "--out", p])
            .status
            .code(),
        Some(65)
    );
    let empty = tempfile::tempdir().unwrap();
    let e =
        rtcbill(&["report", "--outputs", empty.path().to_str().unwrap(), "--data", d, "--out", p]);
    assert_eq!(e.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&e.stderr).contains("no published run"));
    // (verify and simulate, which take the same range, alike: they said 65, no billed day)
    for job in [&["report"][..], &["verify"], &["simulate", "--catalog", "c.toml", "--out", "sim"]]
    {
        let args = [job, &["--outputs", o, "--from", "2026-09-03", "--to", "2026-09-02"]];
        let o = rtcbill(&args.concat());
        assert_eq!(o.status.code(), Some(64), "{job:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("--to 2026-09-02 is before --from"));
    }
    // run and backfill too (they said 65, after loading the inputs)
    let fresh = tempfile::tempdir().unwrap();
    for job in ["run", "backfill"] {
        let range = ["--from", "2026-09-03", "--to", "2026-09-02"];
        let args = [&[job, "--data", d, "--out", fresh.path().to_str().unwrap()][..], &range];
        let o = rtcbill(&args.concat());
        assert_eq!(o.status.code(), Some(64), "{job}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("--to 2026-09-02 is before --from"));
    }
}

/// The summary's line `label   value`.
fn line<'a>(summary: &'a str, label: &str) -> &'a str {
    summary
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label} in {summary}"))
        .trim()
}

#[test]
fn run_ends_with_a_summary_of_the_outputs_quiet_drops_it_and_json_mode_logs_it() {
    let out = tempfile::tempdir().unwrap();
    let data = repo().join("sample-data");
    let o = run_ok(&data, out.path(), &[]);
    let s = String::from_utf8(o.stdout).unwrap();
    assert!(s.starts_with("Billed 62 days (2026-09-01 to 2026-11-01).\n"), "{s}");
    let bills = read_dataset(out.path(), "bills");
    let total: Decimal = bills.iter().map(|b| dec(b, "amount")).sum();
    let issued = line(&s, "bills issued");
    let (n, t) = issued.split_once(", total ").unwrap();
    assert_eq!(number(n), Decimal::from(bills.len()));
    assert!(bills.len() >= 1000 && n.contains(','), "{n}");
    assert_eq!(number(t), total);
    assert!(t.ends_with(" USD"));
    assert_eq!(line(&s, "revised bills"), "0");
    let events = read_dataset(out.path(), "status_events");
    let count = |e: &str| events.iter().filter(|r| text(r, "event") == e).count();
    assert_eq!(
        line(&s, "arrears"),
        format!(
            "{} accounts entering arrears, {} suspended",
            count("arrears_entered"),
            count("suspended")
        )
    );
    assert_eq!(
        line(&s, "rejected slices"),
        read_dataset(out.path(), "rejected_usage").len().to_string()
    );
    assert_eq!(line(&s, "outputs"), out.path().to_str().unwrap());
    // the command it gives draws the report
    let cmd = line(&s, "report");
    let page = out.path().join("from-summary.html");
    let mut args: Vec<String> = cmd.split_whitespace().skip(1).map(str::to_string).collect();
    let at = args.iter().position(|a| a == "--out").unwrap();
    args[at + 1] = page.to_str().unwrap().to_string();
    assert!(cmd.starts_with("rtcbill report --outputs "), "{cmd}");
    ok(Command::new(bin()).args(&args).env("RTCBILL_LOG", "warn").output().unwrap());
    assert!(std::fs::read_to_string(&page).unwrap().contains(&format!("{} USD", shown(total))));

    // --quiet: nothing on stdout
    let quiet = tempfile::tempdir().unwrap();
    let o = run_ok(&data, quiet.path(), &["--quiet", "--to", "2026-09-03"]);
    assert!(o.stdout.is_empty(), "{}", String::from_utf8_lossy(&o.stdout));
    // nightly with nothing to do says so
    let o = ok(rtcbill(&[
        "nightly",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
        "--today",
        "2026-11-02",
    ]));
    let s = String::from_utf8(o.stdout).unwrap();
    assert!(s.starts_with("Nothing to do: every day up to 2026-11-01 is billed."), "{s}");

    // JSON log mode: one JSON object on stderr, nothing on stdout
    let j = tempfile::tempdir().unwrap();
    let o = Command::new(bin())
        .args([
            "--log-format",
            "json",
            "run",
            "--data",
            data.to_str().unwrap(),
            "--out",
            j.path().to_str().unwrap(),
            "--to",
            "2026-09-03",
        ])
        .env("RTCBILL_LOG", "warn")
        .output()
        .unwrap();
    assert!(o.status.success() && o.stdout.is_empty());
    let err = String::from_utf8(o.stderr).unwrap();
    let summaries: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["fields"]["message"] == "summary")
        .collect();
    assert_eq!(summaries.len(), 1, "{err}");
    let f = &summaries[0]["fields"];
    let bills = read_dataset(j.path(), "bills");
    assert_eq!(
        (f["days"].as_u64(), f["first_day"].as_str(), f["last_day"].as_str()),
        (Some(3), Some("2026-09-01"), Some("2026-09-03"))
    );
    assert_eq!(f["bills"].as_u64(), Some(bills.len() as u64));
    assert_eq!(
        f["billed"].as_str().unwrap().parse::<Decimal>().unwrap(),
        bills.iter().map(|b| dec(b, "amount")).sum::<Decimal>()
    );
    assert_eq!(
        f["rejected_slices"].as_u64(),
        Some(read_dataset(j.path(), "rejected_usage").len() as u64)
    );
    assert!(f["report_command"].as_str().unwrap().starts_with("rtcbill report --outputs "));
    // --quiet drops it in JSON mode too
    let o = Command::new(bin())
        .args([
            "--log-format",
            "json",
            "--quiet",
            "backfill",
            "--data",
            data.to_str().unwrap(),
            "--out",
            j.path().to_str().unwrap(),
            "--from",
            "2026-09-03",
        ])
        .env("RTCBILL_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        o.status.success()
            && o.stdout.is_empty()
            && !String::from_utf8_lossy(&o.stderr).contains("summary")
    );
}

/// Money as the page and the summary print it: thousands separators, two decimals.
fn shown(d: Decimal) -> String {
    let s = format!("{:.2}", money(d));
    let (whole, frac) = s.split_once('.').unwrap();
    let mut out = String::new();
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    format!("{out}.{frac}")
}
