//! `rtcbill simulate`: the catalog actually used changes nothing, a replay from the epoch is a
//! fresh run under the candidate, and hand-computed changes of price, grace and package size
//! show where they should (README, Simulate).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use rust_decimal::Decimal;

use crate::common::*;
use crate::sample::files;

fn simulate(data: &Path, outputs: &Path, catalogs: &[&Path], out: &Path) -> String {
    String::from_utf8(ok(simulate_status(data, outputs, catalogs, out)).stdout).unwrap()
}

/// `rtcbill simulate` as it ends, success or not.
fn simulate_status(data: &Path, outputs: &Path, catalogs: &[&Path], out: &Path) -> Output {
    let mut args = vec![
        "simulate",
        "--data",
        data.to_str().unwrap(),
        "--outputs",
        outputs.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    for c in catalogs {
        args.extend(["--catalog", c.to_str().unwrap()]);
    }
    rtcbill(&args)
}

/// `dataset` of candidate `name` under a simulate `--out`.
fn diff(out: &Path, name: &str, dataset: &str) -> Vec<Row> {
    read_file(&out.join(name).join(dataset).join("part-0.parquet"))
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// The catalog of a test data root with `edit` applied, written as `name.toml` under `dir`.
fn candidate(root: &Path, dir: &Path, name: &str, edit: &[(&str, &str)]) -> std::path::PathBuf {
    let mut text = std::fs::read_to_string(root.join("catalog.toml")).unwrap();
    for (a, b) in edit {
        assert!(text.contains(a), "{a} not in the catalog");
        text = text.replacen(a, b, 1);
    }
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn the_catalog_used_gives_an_all_zero_diff_and_nothing_is_written_or_locked() {
    let out = tempfile::tempdir().unwrap();
    let sample = repo().join("sample-data");
    run_ok(&sample, out.path(), &[]);
    let (outputs_before, data_before) = (files(out.path()), files(&sample));
    // A nightly's lock held meanwhile: simulate does not need it.
    let lock = std::fs::File::options().write(true).open(out.path().join("_rtcbill/lock")).unwrap();
    lock.lock().unwrap();
    let sim = tempfile::tempdir().unwrap();
    let stdout = simulate(&sample, out.path(), &[&sample.join("catalog.toml")], sim.path());
    drop(lock);
    assert!(stdout.contains("62 days replayed"), "{stdout}");
    let bills = diff(sim.path(), "catalog", "bill_diff");
    assert_eq!(bills.len(), read_dataset(out.path(), "bills").len());
    assert!(bills
        .iter()
        .all(|b| dec(b, "delta").is_zero() && b["baseline_amount"] == b["simulated_amount"]));
    assert!(diff(sim.path(), "catalog", "order_diff").is_empty());
    assert!(diff(sim.path(), "catalog", "revenue_diff").iter().all(|r| dec(r, "delta").is_zero()));
    assert!(diff(sim.path(), "catalog", "account_diff").iter().all(|r| {
        dec(r, "billed_delta").is_zero()
            && r["final_state_baseline"] == r["final_state_simulated"]
            && r["first_suspension_baseline"] == r["first_suspension_simulated"]
    }));
    assert_eq!(files(out.path()), outputs_before, "simulate wrote to the outputs");
    assert_eq!(files(&sample), data_before, "simulate wrote to the data root");
}

#[test]
fn a_replay_from_the_epoch_is_a_fresh_run_under_the_candidate() {
    let sample = repo().join("sample-data");
    let candidate = sample.join("what-if/audio-1.19.toml");
    let (base, fresh, sim) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run_ok(&sample, base.path(), &[]);
    let data = tempfile::tempdir().unwrap();
    copy_dir(&sample, data.path());
    std::fs::copy(&candidate, data.path().join("catalog.toml")).unwrap();
    run_ok(data.path(), fresh.path(), &[]);
    simulate(&sample, base.path(), &[&candidate], sim.path());
    let want: BTreeMap<String, Decimal> = read_dataset(fresh.path(), "bills")
        .iter()
        .map(|b| (text(b, "bill_id").to_string(), dec(b, "amount")))
        .collect();
    let got: BTreeMap<String, Decimal> = diff(sim.path(), "audio-1.19", "bill_diff")
        .iter()
        .filter(|b| !b["simulated_amount"].is_null())
        .map(|b| (text(b, "bill_id").to_string(), dec(b, "simulated_amount")))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn a_price_change_gives_its_hand_computed_bill_delta() {
    // 1,000 audio minutes of app 101 on 2026-02-10, no package: 0.99 at 0.99 per 1,000 minutes,
    // 1.19 at 1.19 (rules.md, Rounding): the bill daily-10-20260210 moves by +0.20.
    let root = DataRoot::new();
    root.usage("2026-02-10", "part-0.parquet", &[slice("a1", "2026-02-10T01:00:00Z", 60_000)]);
    let out = tempfile::tempdir().unwrap();
    run_ok(root.path(), out.path(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let cand = candidate(
        root.path(),
        dir.path(),
        "audio-119",
        &[("audio = \"0.99\"", "audio = \"1.19\"")],
    );
    let sim = tempfile::tempdir().unwrap();
    let stdout = simulate(root.path(), out.path(), &[&cand], sim.path());
    let bills = diff(sim.path(), "audio-119", "bill_diff");
    assert_eq!(bills.len(), 1);
    let b = &bills[0];
    assert_eq!(
        (
            text(b, "bill_id"),
            dec(b, "baseline_amount"),
            dec(b, "simulated_amount"),
            dec(b, "delta")
        ),
        ("daily-10-20260210", d("0.99"), d("1.19"), d("0.20"))
    );
    let rev = diff(sim.path(), "audio-119", "revenue_diff");
    let audio = rev.iter().find(|r| text(r, "item") == "audio").unwrap();
    assert_eq!((text(audio, "month"), dec(audio, "delta")), ("2026-02-01", d("0.2")));
    assert!(stdout.contains("+20.20%"), "{stdout}");
    // --report: the same figures as one self-contained page, the report's charts per candidate
    let page = sim.path().join("what-if.html");
    let args = [
        "simulate",
        "--data",
        root.path().to_str().unwrap(),
        "--outputs",
        out.path().to_str().unwrap(),
    ];
    let more = [
        "--out",
        sim.path().to_str().unwrap(),
        "--catalog",
        cand.to_str().unwrap(),
        "--report",
        page.to_str().unwrap(),
    ];
    ok(rtcbill(&[&args[..], &more[..]].concat()));
    let html = std::fs::read_to_string(&page).unwrap();
    // months and usage classes drawn; no package was sold on either side: said, not drawn
    assert_eq!(html.matches("<svg").count(), 2, "{html}");
    assert!(html.contains("Package sales by product/version (USD): none on either side."));
    assert!(!html.contains("http") && !html.contains("<script"), "self-contained");
    for want in [
        "Billed per month (USD)",
        "baseline (as billed)",
        "audio-119",
        "<td class=\"num\">0.99</td>",
        "<td class=\"num\">1.19</td>",
    ] {
        assert!(html.contains(want), "{want} not in the page");
    }
}

#[test]
fn a_longer_grace_turns_a_known_suspension_into_none() {
    // Balance 0.50; the 0.99 bill at 2026-02-11T00:00Z leaves -0.49. A 10.00 recharge comes at
    // 2026-02-12T12:00Z, 36 h later: with 24 h of grace the account is suspended at
    // 2026-02-12T00:00Z and restored at the recharge; with 48 h it clears before its deadline.
    let root = DataRoot::new();
    edit_parquet(&root.path().join("accounts/part-0.parquet"), |b| {
        map_column(b, "opening_balance", |_, _| 50)
    });
    write_txns(
        &root.path().join("transactions/part-0.parquet"),
        &[("r1", 10, "2026-02-12T12:00:00Z", "recharge", 1000)],
    );
    root.usage("2026-02-10", "part-0.parquet", &[slice("a1", "2026-02-10T01:00:00Z", 60_000)]);
    root.usage("2026-02-12", "part-0.parquet", &[slice("a2", "2026-02-12T01:00:00Z", 60)]);
    let out = tempfile::tempdir().unwrap();
    run_ok(root.path(), out.path(), &[]);
    let events: Vec<_> = read_dataset(out.path(), "status_events")
        .iter()
        .map(|e| text(e, "event").to_string())
        .collect();
    assert!(events.contains(&"suspended".to_string()), "{events:?}");
    let dir = tempfile::tempdir().unwrap();
    let cand =
        candidate(root.path(), dir.path(), "grace-48", &[("grace_hours = 24", "grace_hours = 48")]);
    let sim = tempfile::tempdir().unwrap();
    let stdout = simulate(root.path(), out.path(), &[&cand], sim.path());
    let acc = &diff(sim.path(), "grace-48", "account_diff")[0];
    assert_eq!(acc["first_suspension_baseline"].as_str(), Some("2026-02-12T00:00:00Z"));
    assert!(acc["first_suspension_simulated"].is_null(), "{acc:?}");
    assert_eq!(
        (text(acc, "final_state_baseline"), text(acc, "final_state_simulated")),
        ("current", "current")
    );
    let line = stdout.lines().find(|l| l.starts_with("grace-48")).unwrap();
    assert!(line.trim_end().ends_with(" 0             1"), "no longer suspended: 1: {line}");
}

#[test]
fn a_smaller_package_makes_a_known_renewal_fail() {
    // Balance 25.00; lite (9.90, 50,000 minutes) for app 101 bought 2026-02-10 10:00 +08:00:
    // 15.10 left, cycle [02-10, 03-10), renewal at 2026-03-09 00:00 +08:00 for 9.90. App 101 uses
    // 50,000 audio minutes on 02-10: all covered. With a 40,000-minute lite, 10,000 minutes are
    // overage: a 9.90 bill leaves 5.20, and the renewal fails (insufficient_balance).
    let root = DataRoot::new();
    edit_parquet(&root.path().join("accounts/part-0.parquet"), |b| {
        map_column(b, "opening_balance", |_, _| 2500)
    });
    write_packages(
        &root.path().join("packages/part-0.parquet"),
        &[(
            "lite1",
            10,
            Some(101),
            "monthly",
            "rtc_engine",
            "lite",
            "2026-02-10T02:00:00Z",
            990,
            None,
        )],
    );
    let ids: Vec<&'static str> =
        (0..35).map(|i| &*Box::leak(format!("u{i}").into_boxed_str())).collect();
    let mut slices: Vec<Slice> =
        ids[..34].iter().map(|id| slice(id, "2026-02-10T01:00:00Z", 86_400)).collect();
    slices.push(slice(ids[34], "2026-02-10T01:00:00Z", 3_000_000 - 34 * 86_400));
    root.usage("2026-02-10", "part-0.parquet", &slices);
    root.usage("2026-03-08", "part-0.parquet", &[slice("late", "2026-03-08T01:00:00Z", 1)]);
    let out = tempfile::tempdir().unwrap();
    run_ok(root.path(), out.path(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let cand = candidate(
        root.path(),
        dir.path(),
        "lite-40k",
        &[(
            "version = \"lite\"\nrank = 1\nminutes = 50000",
            "version = \"lite\"\nrank = 1\nminutes = 40000",
        )],
    );
    let sim = tempfile::tempdir().unwrap();
    let stdout = simulate(root.path(), out.path(), &[&cand], sim.path());
    let orders = diff(sim.path(), "lite-40k", "order_diff");
    assert_eq!(orders.len(), 1, "{orders:?}");
    let o = &orders[0];
    assert_eq!(
        (
            text(o, "order_id"),
            text(o, "baseline_status"),
            text(o, "simulated_status"),
            text(o, "simulated_reason")
        ),
        ("lite1@2026-03-10", "accepted", "rejected", "insufficient_balance")
    );
    let bill = &diff(sim.path(), "lite-40k", "bill_diff")[0];
    assert_eq!(
        (text(bill, "bill_id"), dec(bill, "simulated_amount")),
        ("daily-10-20260210", d("9.90"))
    );
    assert!(bill["baseline_amount"].is_null(), "no bill as issued: {bill:?}");
    assert!(stdout.contains("renewals that would fail: 1"), "{stdout}");
}

/// README, Simulate: a candidate with another `utc_offset` would replay days metered under
/// the old one (every slice's billing day moves): refused before anything is written.
#[test]
fn a_candidate_with_another_utc_offset_is_refused() {
    let root = DataRoot::new();
    root.usage("2026-02-10", "part-0.parquet", &[slice("a1", "2026-02-10T01:00:00Z", 90)]);
    let (out, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run_ok(root.path(), out.path(), &[]);
    let tokyo = candidate(root.path(), tmp.path(), "tokyo", &[("\"+08:00\"", "\"+09:00\"")]);
    let dest = tmp.path().join("sim");
    let o = simulate_status(root.path(), out.path(), &[&tokyo], &dest);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(65), "{err}");
    assert!(err.contains("candidate tokyo") && err.contains("utc_offset"), "{err}");
    assert!(!dest.join("tokyo").exists());
}

/// README, Simulate: inputs changed since the days were billed (a late refund; another data
/// root) are refused: the diff would show them as the candidate's effect (the catalog used
/// gave a suspension).
#[test]
fn inputs_changed_since_billing_are_refused() {
    let root = DataRoot::new();
    root.usage("2026-02-10", "part-0.parquet", &[slice("a1", "2026-02-10T01:00:00Z", 90)]);
    let (out, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run_ok(root.path(), out.path(), &[]);
    let same = candidate(root.path(), tmp.path(), "same", &[]);
    let refund = ("late-1", 10, "2026-02-10T02:00:00Z", "adjustment", -50_000);
    write_txns(&root.path().join("transactions/part-9.parquet"), &[refund]);
    let dest = tmp.path().join("sim");
    let o = simulate_status(root.path(), out.path(), &[&same], &dest);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(65), "{err}");
    assert!(err.contains("2026-02-10: the transactions") && err.contains("nightly"), "{err}");
    assert!(!dest.join("same").exists());
    std::fs::remove_file(root.path().join("transactions/part-9.parquet")).unwrap();
    simulate(root.path(), out.path(), &[&same], &dest);
}

#[test]
fn simulate_writes_nothing_outside_its_out_folder() {
    // README, Simulate: it writes nothing to the outputs or the data root, and replaces only
    // an earlier simulate's folder. A candidate named `..` would have put its folder over the
    // parent of --out.
    let root = DataRoot::new();
    root.usage("2026-02-10", "part-0.parquet", &[slice("a1", "2026-02-10T01:00:00Z", 90)]);
    let (out, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run_ok(root.path(), out.path(), &[]);
    let before = files(out.path());
    let sim = |cat: &Path, dest: &Path| simulate_status(root.path(), out.path(), &[cat], dest);
    let parent = tmp.path().join("parent");
    std::fs::create_dir_all(parent.join("sim")).unwrap();
    std::fs::write(parent.join("keep.txt"), "x").unwrap();
    let dots = tmp.path().join("...toml");
    std::fs::copy(root.path().join("catalog.toml"), &dots).unwrap();
    let o = sim(&dots, &parent.join("sim"));
    assert_eq!(o.status.code(), Some(65), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("plain name"));
    assert!(parent.join("keep.txt").exists());

    let usage = tmp.path().join("usage.toml");
    std::fs::copy(root.path().join("catalog.toml"), &usage).unwrap();
    for (dest, why) in [(out.path(), "inside the outputs"), (root.path(), "inside the data root")] {
        let o = sim(&usage, dest);
        assert_eq!(o.status.code(), Some(65), "{why}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(why));
    }
    // A folder of the candidate's name that simulate did not write is not replaced.
    let keep = tmp.path().join("sims");
    std::fs::create_dir_all(keep.join("usage/mine")).unwrap();
    let o = sim(&usage, &keep);
    assert_eq!(o.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an earlier simulate's result"));
    assert!(keep.join("usage/mine").exists());
    // An earlier simulate's folder is.
    ok(sim(&usage, &tmp.path().join("again")));
    ok(sim(&usage, &tmp.path().join("again")));
    // A page it cannot write: exit 74 naming the file (it was 70, naming nothing).
    let page = tmp.path().join("no/such/folder/r.html");
    let (data, outputs) = (root.path().to_str().unwrap(), out.path().to_str().unwrap());
    let paged = |dest: &Path, page: &Path| {
        let (dest, page) = (dest.to_str().unwrap(), page.to_str().unwrap());
        let cat = usage.to_str().unwrap();
        rtcbill(&[
            "simulate",
            "--data",
            data,
            "--outputs",
            outputs,
            "--out",
            dest,
            "--catalog",
            cat,
            "--report",
            page,
        ])
    };
    let o = paged(&tmp.path().join("paged"), &page);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(74), "{err}");
    assert!(err.contains("no/such/folder/r.html"), "{err}");
    // The report and the FOCUS export refuse a destination inside the outputs too (the next
    // run would leave a file in a dataset folder out of its snapshot), and inside the data root:
    // a page over the catalog, an export into a usage folder (each was written, and the next
    // nightly read it: a TOML error, or exit 65 on a bad usage file).
    let catalog = std::fs::read(root.path().join("catalog.toml")).unwrap();
    let usage_dir = root.path().join("usage/usage_date=2026-02-10");
    let (report, export) = (&["report"][..], &["export", "focus", "--month", "2026-02"][..]);
    for (job, inside, why) in [
        (report, out.path().join("bills/page.out"), "inside an output dataset"),
        (export, out.path().join("bills/page.out"), "inside an output dataset"),
        (report, root.path().join("catalog.toml"), "inside the data root"),
        (export, usage_dir.join("f.parquet"), "inside the data root"),
    ] {
        let existed = inside.exists();
        let args =
            [job, &["--data", data, "--outputs", outputs, "--out", inside.to_str().unwrap()]];
        let o = rtcbill(&args.concat());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(65), "{job:?}: {err}");
        assert!(err.contains(why), "{err}");
        assert_eq!(inside.exists(), existed);
    }
    assert_eq!(std::fs::read(root.path().join("catalog.toml")).unwrap(), catalog);
    assert_eq!(std::fs::read_dir(&usage_dir).unwrap().count(), 1);
    // `simulate --report` inside either root is refused before anything runs.
    for page in [root.path().join("s.html"), out.path().join("bills/s.html")] {
        let dest = tmp.path().join("paged-inside");
        let o = paged(&dest, &page);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(65), "{err}");
        assert!(err.contains("is inside"), "{err}");
        assert!(!page.exists() && !dest.exists());
    }
    // A candidate in another currency, or named with a control character, is refused.
    let euro = candidate(root.path(), tmp.path(), "euro", &[("\"USD\"", "\"EUR\"")]);
    let o = sim(&euro, &tmp.path().join("eur"));
    assert_eq!(o.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&o.stderr).contains("currency"));
    let odd = tmp.path().join("nl\nx.toml");
    std::fs::copy(root.path().join("catalog.toml"), &odd).unwrap();
    let o = sim(&odd, &tmp.path().join("odd"));
    assert_eq!(o.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&o.stderr).contains("plain name"));
    // A page that cannot be renamed into place (a folder is there) leaves no temporary file.
    let folder = tmp.path().join("pages/r.html");
    std::fs::create_dir_all(&folder).unwrap();
    let o = rtcbill(&[
        "report",
        "--data",
        data,
        "--outputs",
        outputs,
        "--out",
        folder.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(74), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_dir(tmp.path().join("pages")).unwrap().count(), 1);
    assert_eq!(files(out.path()), before);
    assert!(root.path().join("usage/usage_date=2026-02-10/part-0.parquet").exists());
}

/// README, Simulate: usage files are the inputs billed when their bytes are, whatever their
/// times (a data root copied without them was refused: "its usage files changed").
#[test]
fn a_data_root_copied_without_its_files_times_is_the_inputs_billed() {
    let root = DataRoot::new();
    root.usage("2026-02-10", "part-0.parquet", &[slice("a1", "2026-02-10T01:00:00Z", 90)]);
    let (out, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run_ok(root.path(), out.path(), &[]);
    let f = root.path().join("usage/usage_date=2026-02-10/part-0.parquet");
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    std::fs::File::options().write(true).open(&f).unwrap().set_modified(later).unwrap();
    let same = candidate(root.path(), tmp.path(), "same", &[]);
    simulate(root.path(), out.path(), &[&same], &tmp.path().join("sim"));
    // Its bytes changed, the same size: refused.
    let mut bytes = std::fs::read(&f).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&f, &bytes).unwrap();
    let o = simulate_status(root.path(), out.path(), &[&same], &tmp.path().join("sim"));
    assert_eq!(o.status.code(), Some(65), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("its usage files"));
}

#[test]
fn readers_refuse_a_missing_partition_or_day_instead_of_reading_it_as_empty() {
    // A bills partition gone, then a whole day's record: simulate, report and the FOCUS export
    // stop naming it (verify names it too) instead of summing one day less.
    let root = DataRoot::new();
    root.usage("2026-02-10", "part-0.parquet", &[slice("a1", "2026-02-10T01:00:00Z", 90)]);
    root.usage("2026-02-12", "part-0.parquet", &[slice("a2", "2026-02-12T01:00:00Z", 90)]);
    let (out, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run_ok(root.path(), out.path(), &[]);
    let (d, o) = (root.path().to_str().unwrap(), out.path().to_str().unwrap());
    let (sim, page, focus) =
        (tmp.path().join("sim"), tmp.path().join("page.html"), tmp.path().join("f.parquet"));
    let cat = root.path().join("catalog.toml");
    let commands: [Vec<&str>; 3] = [
        vec!["simulate", "--data", d, "--outputs", o, "--catalog", cat.to_str().unwrap()]
            .into_iter()
            .chain(["--out", sim.to_str().unwrap()])
            .collect(),
        vec!["report", "--data", d, "--outputs", o, "--out", page.to_str().unwrap()],
        vec!["export", "focus", "--month", "2026-02", "--data", d, "--outputs", o]
            .into_iter()
            .chain(["--out", focus.to_str().unwrap()])
            .collect(),
    ];
    for c in &commands {
        ok(rtcbill(c));
    }
    let gone = out.path().join("bills/billing_date=2026-02-11/part-0.parquet");
    std::fs::remove_file(&gone).unwrap();
    for c in &commands {
        let r = rtcbill(c);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(65), "{c:?}: {err}");
        assert!(err.contains("billing_date=2026-02-11") && err.contains("nightly"), "{err}");
    }
    ok(rtcbill(&["nightly", "--data", d, "--out", o, "--today", "2026-02-13"]));
    std::fs::remove_file(out.path().join("current/_days/2026-02-11.json")).unwrap();
    for c in &commands {
        let r = rtcbill(c);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(65), "{c:?}: {err}");
        assert!(err.contains("between 2026-02-10 and 2026-02-12"), "{err}");
    }
}
