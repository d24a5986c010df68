//! `vsc build`: one sealed VSC per CSV row, and the passwords file for the branch.
//!
//! Every row is validated before anything is built; one bad row and nothing is written. The
//! VSCs are built and sealed in memory on all cores, then written (each file atomically), and
//! `passwords.csv` is written last, once every VSC file is flushed to disk. If any write
//! fails, the files of this run are removed, so a directory never holds half a batch.

use std::io::IsTerminal;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rand_core::OsRng;
use vsc_core::holder::{self, HolderData, RowError};
use vsc_core::profile::Profile;
use vsc_core::vsc::{SealedVsc, Vsc};
use zeroize::Zeroizing;

use crate::atomic_file::{self, Existing};
use crate::error::CliError;
use crate::profile_arg;

/// Name of the passwords file written beside the VSCs.
pub const PASSWORDS_FILE: &str = "passwords.csv";

/// Largest CSV file accepted (about 500,000 holders of typical size).
const MAX_CSV_BYTES: u64 = 256 << 20;

/// Options of `vsc build`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Card profile: a built-in id (iso7816-generic) or the path of a profile file.
    #[arg(long, value_name = "NAME|PATH")]
    profile: String,
    /// The holders: UTF-8 CSV with a header row naming the profile's columns.
    #[arg(long, value_name = "FILE")]
    csv: PathBuf,
    /// Directory for the `<uid>.vsc` files and passwords.csv (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Replace an existing passwords.csv in DIR (its VSCs can then no longer be opened unless
    /// their passwords were sent elsewhere).
    #[arg(long)]
    force: bool,
    /// Threads that build and seal (default: one per core).
    #[arg(long, value_name = "N")]
    jobs: Option<NonZeroUsize>,
}

/// Runs `vsc build`.
pub fn run(args: &Args) -> Result<(), CliError> {
    let started = Instant::now();
    let profile = profile_arg::load(&args.profile)?;
    let text = read_csv(&args.csv)?;
    let holders = match holder::parse_csv(&profile, &text) {
        Ok(holders) => holders,
        Err(errors) => {
            for error in &errors {
                eprintln!("{}", describe_row_error(&args.csv, error));
            }
            return Err(CliError::InvalidRows {
                count: errors.len(),
                csv: args.csv.clone(),
            });
        }
    };
    drop(text);
    if holders.is_empty() {
        return Err(CliError::Input(format!(
            "{} has a header but no holder rows: nothing to build",
            args.csv.display()
        )));
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|e| CliError::io("create the output directory", &args.out, e))?;
    let passwords_path = args.out.join(PASSWORDS_FILE);
    if passwords_path.exists() && !args.force {
        return Err(CliError::Input(format!(
            "{} already exists (the passwords of an earlier batch): nothing was built; use \
             another --out directory, or --force to replace it once its passwords are safe",
            passwords_path.display()
        )));
    }
    let jobs = args
        .jobs
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, NonZeroUsize::get)
        .min(holders.len());

    let progress = progress_bar(holders.len());
    progress.set_message("sealing");
    let sealed = build_all(&profile, &holders, jobs, &progress)?;
    progress.set_position(0);
    progress.set_message("writing");
    let written = write_all(&args.out, &sealed, jobs, &progress)?;
    let existing = if args.force {
        Existing::Replace
    } else {
        Existing::Keep
    };
    if let Err(error) =
        atomic_file::write(&passwords_path, passwords_csv(&sealed).as_bytes(), existing)
    {
        remove_all(&written);
        return Err(error);
    }
    progress.finish_and_clear();

    let seconds = started.elapsed().as_secs_f64();
    outln!(
        "built {} VSC(s) with profile {} in {} in {seconds:.2} s ({:.0}/s); passwords in {}: \
         send it to the branch by another channel than the .vsc files",
        sealed.len(),
        profile.id,
        args.out.display(),
        sealed.len() as f64 / seconds.max(1e-9),
        passwords_path.display()
    );
    Ok(())
}

/// Reads the CSV file as UTF-8, saying where the first non-UTF-8 byte is.
fn read_csv(path: &Path) -> Result<Zeroizing<String>, CliError> {
    let metadata =
        std::fs::metadata(path).map_err(|e| CliError::io("read the CSV file", path, e))?;
    if metadata.len() > MAX_CSV_BYTES {
        return Err(CliError::Input(format!(
            "{} is {} bytes, more than the {MAX_CSV_BYTES} a batch may have: split it",
            path.display(),
            metadata.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| CliError::io("read the CSV file", path, e))?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Zeroizing::new(text)),
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let bytes = Zeroizing::new(e.into_bytes());
            let line = bytes[..valid].iter().filter(|&&b| b == b'\n').count() + 1;
            Err(CliError::Input(format!(
                "{} is not UTF-8 text (line {line}, byte {valid}): export it as UTF-8 CSV",
                path.display()
            )))
        }
    }
}

/// One CSV problem as printed: `FILE: row R, column C: reason`.
fn describe_row_error(csv: &Path, error: &RowError) -> String {
    if error.column.is_empty() {
        format!("{}: row {}: {}", csv.display(), error.row, error.reason)
    } else {
        format!(
            "{}: row {}, column {}: {}",
            csv.display(),
            error.row,
            error.column,
            error.reason
        )
    }
}

fn progress_bar(len: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:8} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Builds and seals every holder's VSC in memory, `jobs` threads each taking a contiguous
/// share; the result is in holder order.
fn build_all(
    profile: &Profile,
    holders: &[HolderData],
    jobs: usize,
    progress: &ProgressBar,
) -> Result<Vec<SealedVsc>, CliError> {
    let share = holders.len().div_ceil(jobs.max(1));
    let results: Vec<Result<Vec<SealedVsc>, CliError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = holders
            .chunks(share)
            .enumerate()
            .map(|(chunk, part)| {
                scope.spawn(move || {
                    let mut rng = OsRng;
                    let mut out = Vec::with_capacity(part.len());
                    for (i, holder) in part.iter().enumerate() {
                        let sealed =
                            Vsc::build_sealed(profile, holder, &mut rng).map_err(|source| {
                                CliError::Build {
                                    holder: holder.value("holder_id").unwrap_or("?").to_owned(),
                                    index: chunk * share + i + 1,
                                    source,
                                }
                            })?;
                        out.push(sealed);
                        progress.inc(1);
                    }
                    Ok(out)
                })
            })
            .collect();
        workers.into_iter().map(join).collect()
    });
    let mut sealed = Vec::with_capacity(holders.len());
    for result in results {
        sealed.extend(result?);
    }
    Ok(sealed)
}

/// Writes `<uid>.vsc` for each sealed VSC; on any failure removes what this run wrote.
fn write_all(
    dir: &Path,
    sealed: &[SealedVsc],
    jobs: usize,
    progress: &ProgressBar,
) -> Result<Vec<PathBuf>, CliError> {
    let share = sealed.len().div_ceil(jobs.max(1));
    let results: Vec<(Vec<PathBuf>, Option<CliError>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = sealed
            .chunks(share)
            .map(|part| {
                scope.spawn(move || {
                    let mut written = Vec::with_capacity(part.len());
                    for vsc in part {
                        let path = dir.join(format!("{}.vsc", vsc.uid));
                        let result =
                            atomic_file::write_unflushed(&path, &vsc.bytes, Existing::Keep);
                        if let Err(error) = result {
                            return (written, Some(error));
                        }
                        written.push(path);
                        progress.inc(1);
                    }
                    (written, None)
                })
            })
            .collect();
        workers.into_iter().map(join).collect()
    });
    let mut all = Vec::with_capacity(sealed.len());
    let mut first_error = None;
    for (written, error) in results {
        all.extend(written);
        first_error = first_error.or(error);
    }
    // Every VSC is on disk before passwords.csv names it.
    let first_error = first_error.or_else(|| atomic_file::flush_file_system(dir).err());
    match first_error {
        None => Ok(all),
        Some(error) => {
            remove_all(&all);
            Err(error)
        }
    }
}

/// Joins a worker, passing on its panic (a bug, not bad input) unchanged.
fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn remove_all(paths: &[PathBuf]) {
    for path in paths {
        let _ = std::fs::remove_file(path);
    }
}

/// `uid,password` then one line per VSC, in CSV row order.
fn passwords_csv(sealed: &[SealedVsc]) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::with_capacity(16 + sealed.len() * 72));
    text.push_str("uid,password\n");
    for vsc in sealed {
        text.push_str(&vsc.uid.to_string());
        text.push(',');
        text.push_str(vsc.password.expose());
        text.push('\n');
    }
    text
}
