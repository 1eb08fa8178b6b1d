//! The `file` exporter: every processed batch as one OTLP/JSON line, rotated by size.
//!
//! Each line is the `Export*ServiceRequest` in OTLP/JSON, the same shape the collector's
//! file exporter writes, so what leaves llmwatch can be read back, diffed and replayed.
//! When the file would pass `rotation.max_megabytes`, it is renamed to `path.1` (older
//! files shift up to `path.N`, and the oldest past `max_backups` is deleted).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Deserialize;

use super::{
    Delivery, ExportContext, ExportError, Exporter, ExporterConfig, ExporterFactory,
    ExporterSettings,
};
use crate::component::config::decode_at;
use crate::component::config::{ConfigError, Path};
use crate::component::factory::{Factory, shares_nothing};
use crate::model::{Batch, Payload};

/// `exporters.file`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The file to write.
    pub path: PathBuf,
    /// Size-based rotation.
    #[serde(default)]
    pub rotation: RotationConfig,
}

/// `exporters.file.rotation`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationConfig {
    /// Rotate once the file reaches this size, in MiB.
    #[serde(default = "RotationConfig::default_max_megabytes")]
    pub max_megabytes: u64,
    /// How many rotated files to keep.
    #[serde(default = "RotationConfig::default_max_backups")]
    pub max_backups: u32,
}

impl RotationConfig {
    fn default_max_megabytes() -> u64 {
        100
    }
    fn default_max_backups() -> u32 {
        5
    }
}

impl Default for RotationConfig {
    fn default() -> Self {
        RotationConfig {
            max_megabytes: Self::default_max_megabytes(),
            max_backups: Self::default_max_backups(),
        }
    }
}

/// The `file` exporter type.
pub const FACTORY: ExporterFactory = Factory {
    type_name: "file",
    decode: |value, path, errors, _env| {
        let cfg: FileConfig = decode_at(value, path, errors)?;
        cfg.check(path, errors)
            .then(|| Arc::new(cfg) as ExporterConfig)
    },
    register: shares_nothing,
};

impl ExporterSettings for FileConfig {
    fn build(&self, _id: &str, _ctx: &ExportContext) -> std::io::Result<Arc<dyn Exporter>> {
        Ok(Arc::new(FileExporter::open(self.clone())?))
    }
}

impl FileConfig {
    pub(crate) fn check(&self, path: &Path, errors: &mut Vec<ConfigError>) -> bool {
        let before = errors.len();
        if self.path.as_os_str().is_empty() {
            errors.push(ConfigError {
                path: format!("{path}.path"),
                message: "must not be empty".into(),
            });
        }
        if self.rotation.max_megabytes == 0 {
            errors.push(ConfigError {
                path: format!("{path}.rotation.max_megabytes"),
                message: "must be at least 1".into(),
            });
        }
        errors.len() == before
    }
}

struct Output {
    writer: BufWriter<File>,
    written: u64,
    line: Vec<u8>,
}

/// Writes OTLP/JSON lines to a size-rotated file.
pub struct FileExporter {
    config: FileConfig,
    max_bytes: u64,
    output: Mutex<Output>,
}

fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl FileExporter {
    /// Opens (appending to) the configured file.
    pub fn open(config: FileConfig) -> std::io::Result<FileExporter> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&config.path)?;
        let written = file.metadata()?.len();
        let max_bytes = config.rotation.max_megabytes.saturating_mul(1 << 20);
        Ok(FileExporter {
            config,
            max_bytes,
            output: Mutex::new(Output {
                writer: BufWriter::with_capacity(64 * 1024, file),
                written,
                line: Vec::new(),
            }),
        })
    }

    fn backup_path(&self, n: u32) -> PathBuf {
        let mut name = self.config.path.clone().into_os_string();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate(&self, out: &mut Output) -> Result<(), ExportError> {
        let path = &self.config.path;
        out.writer.flush().map_err(io_error(path))?;
        let keep = self.config.rotation.max_backups;
        if keep == 0 {
            std::fs::remove_file(path).map_err(io_error(path))?;
        } else {
            let _ = std::fs::remove_file(self.backup_path(keep));
            for n in (1..keep).rev() {
                let from = self.backup_path(n);
                if from.exists() {
                    std::fs::rename(&from, self.backup_path(n + 1)).map_err(io_error(&from))?;
                }
            }
            std::fs::rename(path, self.backup_path(1)).map_err(io_error(path))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io_error(path))?;
        out.writer = BufWriter::with_capacity(64 * 1024, file);
        out.written = 0;
        Ok(())
    }
}

impl Exporter for FileExporter {
    fn export(&self, batch: &Batch) -> Result<Delivery, ExportError> {
        let mut out = self.output.lock().unwrap_or_else(PoisonError::into_inner);
        let out = &mut *out;
        out.line.clear();
        match &batch.payload {
            Payload::Traces(r) => serde_json::to_writer(&mut out.line, r)?,
            Payload::Logs(r) => serde_json::to_writer(&mut out.line, r)?,
            Payload::Metrics(r) => serde_json::to_writer(&mut out.line, r)?,
        }
        out.line.push(b'\n');
        let len = out.line.len() as u64;
        if out.written > 0 && out.written + len > self.max_bytes {
            self.rotate(out)?;
        }
        let path = &self.config.path;
        out.writer.write_all(&out.line).map_err(io_error(path))?;
        // Flush per batch: a reader (a user tailing the file, a test) sees whole lines.
        out.writer.flush().map_err(io_error(path))?;
        out.written += len;
        Ok(Delivery::Sent)
    }

    fn flush(&self) -> Result<(), ExportError> {
        let mut out = self.output.lock().unwrap_or_else(PoisonError::into_inner);
        out.writer.flush().map_err(io_error(&self.config.path))?;
        out.writer
            .get_ref()
            .sync_data()
            .map_err(io_error(&self.config.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Transport;

    #[test]
    fn rotates_by_size_and_keeps_max_backups() {
        let dir = std::env::temp_dir().join(format!("llmwatch-file-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.jsonl");
        let config = FileConfig {
            path: path.clone(),
            rotation: RotationConfig {
                max_megabytes: 1,
                max_backups: 2,
            },
        };
        let exporter = FileExporter::open(config).unwrap();
        let batch = Batch::new(
            Payload::Traces(crate::bench::reference_traces(100, 9)),
            Transport::Grpc,
            1,
        );
        for _ in 0..20 {
            exporter.export(&batch).unwrap();
        }
        exporter.flush().unwrap();
        for p in [path, dir.join("out.jsonl.1"), dir.join("out.jsonl.2")] {
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(
                text.len() as u64 <= 1 << 20,
                "{} is {} bytes",
                p.display(),
                text.len()
            );
            for line in text.lines() {
                let req: opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest = serde_json::from_str(line).unwrap();
                assert_eq!(req.resource_spans[0].scope_spans[0].spans.len(), 100);
            }
        }
        assert!(!dir.join("out.jsonl.3").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
