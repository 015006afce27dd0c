//! Per-backend health series: readiness from the active probes and ejection by passive
//! health. Labelled by configured backend name; a reload drops the series of backends it
//! removed.

use prometheus::{IntCounterVec, IntGaugeVec, Registry};

use super::opts;
use crate::backends::HealthState;

pub struct BackendHealth {
    up: IntGaugeVec,
    ejections: IntCounterVec,
    ejected: IntGaugeVec,
}

impl BackendHealth {
    /// # Panics
    /// Only if a definition below is malformed (caught by every test that builds one).
    pub fn register(registry: &Registry) -> BackendHealth {
        let up = IntGaugeVec::new(
            opts(
                "backend_up",
                "1 when the backend's last readiness probe passed.",
            ),
            &["backend"],
        )
        .expect("backend_up");
        let ejections = IntCounterVec::new(
            opts(
                "backend_ejections_total",
                "Times passive health took a backend out of first choice after consecutive failures.",
            ),
            &["backend"],
        )
        .expect("backend_ejections_total");
        let ejected = IntGaugeVec::new(
            opts(
                "backend_ejected",
                "1 while a backend is ejected by passive health (tried only as a last resort).",
            ),
            &["backend"],
        )
        .expect("backend_ejected");
        let collectors: [Box<dyn prometheus::core::Collector>; 3] = [
            Box::new(up.clone()),
            Box::new(ejections.clone()),
            Box::new(ejected.clone()),
        ];
        for c in collectors {
            registry.register(c).expect("unique metric names");
        }
        BackendHealth {
            up,
            ejections,
            ejected,
        }
    }

    pub fn set_state(&self, backend: &str, state: HealthState) {
        self.up
            .with_label_values(&[backend])
            .set(i64::from(state == HealthState::Ready));
    }

    pub fn ejected(&self, backend: &str) {
        self.ejections.with_label_values(&[backend]).inc();
        self.ejected.with_label_values(&[backend]).set(1);
    }

    /// Brings the time-based per-backend gauges up to date (called when scraped).
    pub fn refresh(&self, backend: &str, ejected: bool) {
        self.ejected
            .with_label_values(&[backend])
            .set(i64::from(ejected));
        self.ejections.with_label_values(&[backend]);
    }

    /// Drops per-backend series for backends a reload removed.
    pub fn retain(&self, names: &[&str], previous: &[&str]) {
        for old in previous.iter().filter(|n| !names.contains(n)) {
            let _ = self.up.remove_label_values(&[old]);
            let _ = self.ejected.remove_label_values(&[old]);
            let _ = self.ejections.remove_label_values(&[old]);
        }
    }
}
