//! Classification metrics: accuracy, macro-F1, per-class precision and recall, confusion
//! matrix.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub class: String,
    pub support: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub rows: usize,
    pub accuracy: f64,
    /// Unweighted mean of the per-class F1 over classes present in truth or predictions
    /// (scikit-learn's `f1_score(average="macro")`; a class with no true and no predicted row
    /// is left out).
    pub macro_f1: f64,
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
}

pub fn metrics(truth: &[usize], predicted: &[usize], classes: &[String]) -> Metrics {
    assert_eq!(truth.len(), predicted.len(), "one prediction per row");
    let k = classes.len();
    let mut confusion = vec![vec![0usize; k]; k];
    for (&t, &p) in truth.iter().zip(predicted) {
        confusion[t][p] += 1;
    }
    let mut per_class = Vec::new();
    let mut f1s = Vec::new();
    for c in 0..k {
        let tp = confusion[c][c] as f64;
        let support: usize = confusion[c].iter().sum();
        let predicted_c: usize = (0..k).map(|t| confusion[t][c]).sum();
        let precision = if predicted_c > 0 { tp / predicted_c as f64 } else { 0.0 };
        let recall = if support > 0 { tp / support as f64 } else { 0.0 };
        let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
        if support > 0 || predicted_c > 0 {
            f1s.push(f1);
        }
        per_class.push(ClassMetrics { class: classes[c].clone(), support, precision, recall, f1 });
    }
    let correct: usize = (0..k).map(|c| confusion[c][c]).sum();
    Metrics {
        rows: truth.len(),
        accuracy: if truth.is_empty() { 0.0 } else { correct as f64 / truth.len() as f64 },
        macro_f1: if f1s.is_empty() { 0.0 } else { f1s.iter().sum::<f64>() / f1s.len() as f64 },
        per_class,
        confusion,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed (and equal to sklearn.metrics.f1_score(t, p, average="macro")):
    /// truth [0,0,0,1,1,2], predicted [0,0,1,1,2,2]: class 0 P=1 R=2/3 F1=0.8; class 1 P=1/2
    /// R=1/2 F1=0.5; class 2 P=1/2 R=1 F1=2/3; macro 0.6556; accuracy 4/6.
    #[test]
    fn golden_macro_f1() {
        let classes: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let m = metrics(&[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2], &classes);
        assert!((m.macro_f1 - (0.8 + 0.5 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        assert!((m.accuracy - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(m.confusion, vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]);
        assert!((m.per_class[0].recall - 2.0 / 3.0).abs() < 1e-12);
    }
}
