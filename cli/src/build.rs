//! `vsc build`: one sealed VSC per CSV row, and the password sheet for the branch.
//!
//! The file is read and every row validated by `vsc_core::holder_csv` (the same verdict the
//! page and the issuer service reach for the same bytes and the same day) before anything is
//! built; one bad row and nothing is written. The VSCs are built and sealed in memory on all
//! cores, then written (each file atomically) under the names and in the sheet format of
//! `vsc_core::batch`, and `passwords.csv` is written last, once every VSC file is flushed to
//! disk. If any write fails, the files of this run are removed, so a directory never holds
//! half a batch.

use std::io::IsTerminal;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rand_core::OsRng;
use vsc_core::batch::{self, BatchEntry};
use vsc_core::holder::HolderData;
use vsc_core::holder_csv::{self, CsvError, CsvOptions, FileProblem, RowError, MAX_CSV_BYTES};
use vsc_core::profile::Profile;
use vsc_core::text_encoding::{DecodeError, TextEncoding};
use zeroize::Zeroizing;

use crate::atomic_file::{self, Existing};
use crate::error::CliError;
use crate::profile_arg;

/// Name of the passwords file written beside the VSCs.
pub const PASSWORDS_FILE: &str = "passwords.csv";

/// Options of `vsc build`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Card profile: a built-in id (iso7816-generic) or the path of a profile file.
    #[arg(long, value_name = "NAME|PATH")]
    profile: String,
    /// The holders: CSV with a header row naming the profile's columns, separated by commas,
    /// semicolons or tabs (detected).
    #[arg(long, value_name = "FILE")]
    csv: PathBuf,
    /// The CSV file's encoding, when it is not UTF-8: windows-1252 (Excel's "CSV (Comma
    /// delimited)" on Windows; also ISO-8859-1) or iso-8859-15.
    #[arg(long, value_name = "ENCODING", default_value = "utf-8", value_parser = parse_encoding)]
    encoding: TextEncoding,
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
    let holders = read_holders(&profile, &args.csv, args.encoding, crate::today::today()?)?;
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
    let built = build_all(&profile, &holders, jobs, &progress)?;
    drop(holders);
    progress.set_position(0);
    progress.set_message("writing");
    let written = write_all(&args.out, &built, jobs, &progress)?;
    let existing = if args.force {
        Existing::Replace
    } else {
        Existing::Keep
    };
    if let Err(error) =
        atomic_file::write(&passwords_path, &batch::password_sheet(&built), existing)
    {
        remove_all(&written);
        return Err(error);
    }
    progress.finish_and_clear();

    let seconds = started.elapsed().as_secs_f64();
    outln!(
        "built {} VSC(s) with profile {} in {} in {seconds:.2} s ({:.0}/s); passwords in {}: \
         send it to the branch by another channel than the .vsc files",
        built.len(),
        profile.id,
        args.out.display(),
        built.len() as f64 / seconds.max(1e-9),
        passwords_path.display()
    );
    Ok(())
}

fn parse_encoding(label: &str) -> Result<TextEncoding, String> {
    TextEncoding::from_label(label)
        .ok_or_else(|| format!("unknown encoding; use one of {}", TextEncoding::labels()))
}

/// Reads and validates the holder file: its holders, or every problem printed and the
/// error to end with. The CLI's entry into `vsc_core::holder_csv`; the page's is the
/// `checkCsv`/`Issuer.fromCsv` pair of the `web` crate, over the same function.
pub fn read_holders(
    profile: &Profile,
    path: &Path,
    encoding: TextEncoding,
    today: vsc_core::date::Date,
) -> Result<Vec<HolderData>, CliError> {
    let metadata =
        std::fs::metadata(path).map_err(|e| CliError::io("read the CSV file", path, e))?;
    if metadata.len() > MAX_CSV_BYTES {
        let problem = FileProblem::TooLarge {
            bytes: metadata.len(),
            max: MAX_CSV_BYTES,
        };
        return Err(CliError::Input(format!("{}: {problem}", path.display())));
    }
    let bytes = Zeroizing::new(
        std::fs::read(path).map_err(|e| CliError::io("read the CSV file", path, e))?,
    );
    let options = CsvOptions { encoding, today };
    match holder_csv::read(profile, &bytes, &options) {
        Ok(rows) => Ok(rows.into_holders()),
        Err(CsvError::Rows(errors)) => {
            for error in &errors {
                eprintln!("{}", describe_row_error(path, error));
            }
            Err(CliError::InvalidRows {
                count: errors.len(),
                csv: path.to_path_buf(),
            })
        }
        Err(CsvError::File(problem)) => {
            let hint = match &problem {
                FileProblem::Encoding(DecodeError::NotUtf8 { .. }) => {
                    " (for an Excel file saved on Windows: --encoding windows-1252)"
                }
                _ => "",
            };
            Err(CliError::Input(format!(
                "{}: {problem}{hint}; nothing was built",
                path.display()
            )))
        }
        Err(other) => Err(CliError::Input(format!("{}: {other}", path.display()))),
    }
}

/// One CSV problem as printed: `FILE: row R (holder), column C: reason`.
fn describe_row_error(csv: &Path, error: &RowError) -> String {
    format!("{}: {error}", csv.display())
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
) -> Result<Vec<BatchEntry>, CliError> {
    let share = holders.len().div_ceil(jobs.max(1));
    let results: Vec<Result<Vec<BatchEntry>, CliError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = holders
            .chunks(share)
            .enumerate()
            .map(|(chunk, part)| {
                scope.spawn(move || {
                    let mut rng = OsRng;
                    let mut out = Vec::with_capacity(part.len());
                    for (i, holder) in part.iter().enumerate() {
                        let entry =
                            BatchEntry::build(profile, holder, &mut rng).map_err(|source| {
                                CliError::Build {
                                    holder: holder.who(&profile.who),
                                    index: chunk * share + i + 1,
                                    source,
                                }
                            })?;
                        out.push(entry);
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

/// Writes each sealed VSC under its batch file name; on any failure removes what this run
/// wrote.
fn write_all(
    dir: &Path,
    sealed: &[BatchEntry],
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
                    for entry in part {
                        let path = dir.join(entry.file_name());
                        let result = atomic_file::write_unflushed(
                            &path,
                            &entry.sealed.bytes,
                            Existing::Keep,
                        );
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
