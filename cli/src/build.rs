//! `vsc build`: one sealed VSC per CSV row, and the password sheet for the branch; or, with
//! `--server URL --branch B`, the same VSCs uploaded to the issuer service with their
//! passwords sealed for the branch's stations (`upload`), and no file written.
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
use crate::upload::{ServerArgs, Upload};

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
    #[arg(long, value_name = "DIR", required_unless_present = "server")]
    out: Option<PathBuf>,
    /// Replace an existing passwords.csv in DIR (its VSCs can then no longer be opened unless
    /// their passwords were sent elsewhere).
    #[arg(long)]
    force: bool,
    /// Threads that build and seal (default: one per core).
    #[arg(long, value_name = "N")]
    jobs: Option<NonZeroUsize>,
    #[command(flatten)]
    server: ServerArgs,
}

/// Where the batch goes.
enum Target {
    /// Files in a directory, and passwords.csv beside them.
    Files { dir: PathBuf, passwords: PathBuf },
    /// The issuer service.
    Issuer(Upload),
}

/// Runs `vsc build`: the same reading, checking and building whether the batch goes to
/// files or to the issuer service.
pub fn run(args: &Args) -> Result<(), CliError> {
    let started = Instant::now();
    let profile = profile_arg::load(&args.profile)?;
    let csv = read_csv(&args.csv)?;
    let holders = parse_holders(
        &profile,
        &args.csv,
        &csv,
        args.encoding,
        crate::clock::today()?,
    )?;
    let target = match (&args.server.server, &args.server.branch, &args.out) {
        (Some(server), Some(branch), _) => {
            Target::Issuer(Upload::prepare(server, branch, &args.server.credentials)?)
        }
        (_, _, Some(dir)) => Target::Files {
            dir: dir.clone(),
            passwords: prepare_dir(dir, args.force)?,
        },
        _ => {
            return Err(CliError::Input(
                "give --out DIR, or --server URL and --branch ID".into(),
            ))
        }
    };
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
    let seconds = || started.elapsed().as_secs_f64();
    match target {
        Target::Files { dir, passwords } => {
            progress.set_message("writing");
            write_batch(&dir, &passwords, &built, jobs, &progress, args.force)?;
            progress.finish_and_clear();
            let seconds = seconds();
            outln!(
                "built {} VSC(s) with profile {} in {} in {seconds:.2} s ({:.0}/s); passwords \
                 in {}: send it to the branch by another channel than the .vsc files",
                built.len(),
                profile.id,
                dir.display(),
                built.len() as f64 / seconds.max(1e-9),
                passwords.display()
            );
        }
        Target::Issuer(upload) => {
            progress.set_message("uploading");
            let stations = upload.stations();
            let states = upload.send(&built, (&profile, &csv, args.encoding), &progress)?;
            progress.finish_and_clear();
            let queued = states.iter().filter(|s| *s == "queued").count();
            let branch = args.server.branch.as_deref().unwrap_or_default();
            outln!(
                "built and uploaded {} VSC(s) with profile {} to branch {branch} in {:.2} s, \
                 each password sealed for the branch's {stations} approved station(s) and \
                 written nowhere; {}",
                built.len(),
                profile.id,
                seconds(),
                if queued == states.len() {
                    "they are queued at the branch (four-eyes approval is off)".to_owned()
                } else {
                    format!(
                        "{} are prepared: an approver other than you releases them to the \
                         branch's queue",
                        states.len() - queued
                    )
                }
            );
        }
    }
    Ok(())
}

/// Creates the output directory; the path of its passwords.csv, which must not exist yet
/// unless `force`.
fn prepare_dir(dir: &Path, force: bool) -> Result<PathBuf, CliError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::io("create the output directory", dir, e))?;
    let passwords = dir.join(PASSWORDS_FILE);
    if passwords.exists() && !force {
        return Err(CliError::Input(format!(
            "{} already exists (the passwords of an earlier batch): nothing was built; use \
             another --out directory, or --force to replace it once its passwords are safe",
            passwords.display()
        )));
    }
    Ok(passwords)
}

/// Writes the VSC files, then passwords.csv once they are on disk; on failure removes what
/// this run wrote.
fn write_batch(
    dir: &Path,
    passwords: &Path,
    built: &[BatchEntry],
    jobs: usize,
    progress: &ProgressBar,
    force: bool,
) -> Result<(), CliError> {
    let written = write_all(dir, built, jobs, progress)?;
    let existing = if force {
        Existing::Replace
    } else {
        Existing::Keep
    };
    if let Err(error) = atomic_file::write(passwords, &batch::password_sheet(built), existing) {
        remove_all(&written);
        return Err(error);
    }
    Ok(())
}

fn parse_encoding(label: &str) -> Result<TextEncoding, String> {
    TextEncoding::from_label(label)
        .ok_or_else(|| format!("unknown encoding; use one of {}", TextEncoding::labels()))
}

/// The bytes of the holder file at `path` (wiped on drop: private fields are personal data).
fn read_csv(path: &Path) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let metadata =
        std::fs::metadata(path).map_err(|e| CliError::io("read the CSV file", path, e))?;
    if metadata.len() > MAX_CSV_BYTES {
        let problem = FileProblem::TooLarge {
            bytes: metadata.len(),
            max: MAX_CSV_BYTES,
        };
        return Err(CliError::Input(format!("{}: {problem}", path.display())));
    }
    Ok(Zeroizing::new(
        std::fs::read(path).map_err(|e| CliError::io("read the CSV file", path, e))?,
    ))
}

/// Validates the holder file's `bytes` (read from `path`, named in messages): its holders, or
/// every problem printed and the error to end with. The CLI's entry into
/// `vsc_core::holder_csv`; the page's is the `checkCsv`/`Issuer.fromCsv` pair of the `web`
/// crate, and the issuer service's its import, over the same function.
fn parse_holders(
    profile: &Profile,
    path: &Path,
    bytes: &[u8],
    encoding: TextEncoding,
    today: vsc_core::date::Date,
) -> Result<Vec<HolderData>, CliError> {
    let options = CsvOptions { encoding, today };
    match holder_csv::read(profile, bytes, &options) {
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
                            BatchEntry::build(profile, holder, crate::clock::now_ms(), &mut rng)
                                .map_err(|source| CliError::Build {
                                    holder: holder.who(&profile.who),
                                    index: chunk * share + i + 1,
                                    source,
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
