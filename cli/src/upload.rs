//! `vsc build --server URL --branch B`: the batch goes to the issuer service instead of files.
//!
//! Before anything is built: sign in (a clerk) and fetch the approved stations of branch B
//! (none: nothing happens). The VSCs are then built by `vsc build`'s own path
//! ([`crate::build`]); only then are the CSV file's bytes imported as holder records (the
//! service checks them with the same `vsc_core::holder_csv` rules, all rows or none), and each
//! password is sealed for every approved station (`vsc_core::envelope`, bound to the VSC's
//! UID, the branch and the sealed bytes) and forgotten: no password is written anywhere. The
//! jobs go up in batches of [`JOBS_PER_BATCH`] (`POST /api/jobs/batch`, each batch all or
//! none), as prepared jobs for an approver.
//!
//! What it does not do: approve (another user does), or retry a refused batch.

use indicatif::ProgressBar;
use rand_core::OsRng;
use serde_json::Value;
use vsc_core::batch::BatchEntry;
use vsc_core::envelope::StationPublicKey;
use vsc_core::job_envelopes::{BranchSealer, SealedJob, Station, JOBS_PER_BATCH};
use vsc_core::profile::Profile;
use vsc_core::text_encoding::TextEncoding;

use crate::error::CliError;
use crate::issuer_client::{api_path, CredentialArgs, Credentials, Session};

/// The options of `vsc build` that send the batch to the issuer service.
// clap prints these doc comments as --help text (plain text: bare URLs, brackets).
#[allow(rustdoc::bare_urls, rustdoc::broken_intra_doc_links)]
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// Upload the VSCs to the issuer service at URL (https://cards.issuer.example) instead of
    /// writing files; needs --branch.
    #[arg(long, value_name = "URL", requires = "branch", conflicts_with_all = ["out", "force"])]
    pub server: Option<String>,
    /// With --server: the branch whose queue the VSCs go to (its id at the issuer).
    #[arg(long, value_name = "ID", requires = "server")]
    pub branch: Option<String>,
    #[command(flatten)]
    pub credentials: CredentialArgs,
}

/// The body of `POST /api/jobs/batch`.
#[derive(serde::Serialize)]
struct BatchBody<'a> {
    jobs: &'a [SealedJob],
}

/// A signed-in upload to one branch, its approved stations known.
pub struct Upload {
    session: Session,
    branch: String,
    stations: Vec<Station>,
}

impl Upload {
    /// Signs in and finds the branch's approved stations; nothing is stored at the service yet.
    pub fn prepare(
        server: &str,
        branch: &str,
        credentials: &CredentialArgs,
    ) -> Result<Upload, CliError> {
        let credentials = Credentials::read(credentials)?;
        let mut session = Session::sign_in(server, &credentials)?;
        let branches = session.get("/api/branches")?;
        let known: Vec<&str> = branches["branches"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|b| b["id"].as_str())
            .collect();
        if !known.contains(&branch) {
            return Err(CliError::Input(format!(
                "there is no branch {branch:?} at {}; nothing was built or uploaded: give \
                 --branch one of {}",
                session.base(),
                known.join(", ")
            )));
        }
        let list = session.get(&api_path(
            &["api", "stations"],
            &[("branch", branch), ("state", "approved")],
        ))?;
        let stations: Vec<Station> = list["stations"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|s| s["branch"] == branch && s["state"] == "approved")
            .map(|s| serde_json::from_value(s.clone()))
            .collect::<Result<_, _>>()
            .map_err(|e| CliError::Issuer(format!("the issuer's station list is unusable: {e}")))?;
        // Every key is checked before the records are imported, so nothing is left half-done.
        for station in &stations {
            StationPublicKey::from_hex(&station.public_key).map_err(|e| {
                CliError::Issuer(format!(
                    "station {} of branch {branch}: {e}; nothing was built or uploaded: an admin \
                     revokes that station",
                    station.id
                ))
            })?;
        }
        if stations.is_empty() {
            return Err(CliError::Input(format!(
                "branch {branch:?} has no approved station at {}, so no VSC password could be \
                 sealed for it; nothing was built or uploaded: an operator enrols a station of \
                 the branch and an admin approves it",
                session.base()
            )));
        }
        Ok(Upload {
            session,
            branch: branch.to_owned(),
            stations,
        })
    }

    /// Imports `csv` (read as `encoding`) as holder records for `profile`, all rows or none;
    /// their ids, in the file's order, one per VSC of `built`.
    fn import(
        &mut self,
        profile: &Profile,
        csv: &[u8],
        encoding: TextEncoding,
        built: usize,
    ) -> Result<Vec<i64>, CliError> {
        let imported = self.session.post_csv(
            &api_path(
                &["api", "records", "import"],
                &[("profile", &profile.id), ("encoding", encoding.label())],
            ),
            csv,
        )?;
        let records: Vec<i64> = imported["ids"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_i64)
            .collect();
        if records.len() != built {
            return Err(CliError::Issuer(format!(
                "the issuer imported {} record(s) where the file has {built} holder(s); no VSC \
                 was uploaded: ask an administrator to remove the records imported just now",
                records.len()
            )));
        }
        Ok(records)
    }

    /// The number of approved stations each password is sealed for.
    pub fn stations(&self) -> usize {
        self.stations.len()
    }

    /// Imports the CSV file's holders (`csv`, read as `encoding`, for `profile`: the same rows
    /// `built` was built from, in the same order), then seals each password for the stations
    /// and uploads the jobs, [`JOBS_PER_BATCH`] at a time; the states the service gave them
    /// (`prepared`, or `queued` when four-eyes is off). Nothing reaches the service before the
    /// whole batch is built.
    pub fn send(
        mut self,
        built: &[BatchEntry],
        (profile, csv, encoding): (&Profile, &[u8], TextEncoding),
        progress: &ProgressBar,
    ) -> Result<Vec<String>, CliError> {
        let records = self.import(profile, csv, encoding, built.len())?;
        let mut states = Vec::with_capacity(built.len());
        for (chunk, entries) in built.chunks(JOBS_PER_BATCH).enumerate() {
            let offset = chunk * JOBS_PER_BATCH;
            // One HPKE encapsulation per station and chunk.
            let sealer = BranchSealer::new(&self.stations, &mut OsRng)
                .map_err(|e| CliError::Issuer(e.to_string()))?;
            let jobs = entries
                .iter()
                .enumerate()
                .map(|(i, entry)| sealer.job(records[offset + i], &self.branch, entry, &mut OsRng))
                .collect::<Result<Vec<SealedJob>, _>>()
                .map_err(|e| CliError::Input(e.to_string()))?;
            let answer = self
                .session
                .post("/api/jobs/batch", &BatchBody { jobs: &jobs })
                .map_err(|error| {
                    CliError::Issuer(format!(
                        "{error}. The holders were imported as records {}..={}; the first \
                         {offset} VSC(s) were uploaded, this batch of {} and the rest were not",
                        records[0],
                        records[records.len() - 1],
                        entries.len()
                    ))
                })?;
            states.extend(
                answer["jobs"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|j| j["state"].as_str().unwrap_or_default().to_owned()),
            );
            progress.inc(entries.len() as u64);
        }
        self.session.sign_out();
        Ok(states)
    }
}
