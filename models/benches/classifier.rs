//! Workload classifier speed: latency of classifying one job (all four tasks, features
//! included) and batch throughput, for a 100-tree forest fitted on synthetic specs of the
//! Alibaba trace's shapes (no data file needed). `cargo bench -p hcp-models --bench classifier`.

use std::hint::black_box;
use std::time::Instant;

use hcp_models::classifier::JobSpec;
use hcp_models::classifier::artifact::{ClassifierBundle, TaskModel};
use hcp_models::classifier::fit::{ModelSpec, TrainSet, fit};
use hcp_models::classifier::{FEATURE_NAMES, Model};

/// SplitMix64, so the benchmark needs no extra dependency.
struct Mix(u64);
impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

fn spec(r: &mut Mix) -> JobSpec {
    let num_gpu = r.pick(&[0, 1, 1, 1, 1, 2, 4, 8]);
    JobSpec {
        cpu_milli: r.pick(&[1000, 4000, 6000, 8000, 12000, 16000, 32000, 88000]),
        memory_mib: r.pick(&[2048, 12288, 16384, 32768, 65536, 327680]),
        num_gpu,
        gpu_milli: if num_gpu == 0 { 0 } else { r.pick(&[160, 230, 320, 460, 470, 810, 1000, 1000, 1000]) },
        gpu_spec: r.pick(&[None, None, Some("V100M16|V100M32"), Some("T4"), Some("G2")]).map(str::to_string),
        creation_time_s: (r.next() % 12_000_000) as i64,
    }
}

fn main() {
    let mut r = Mix(7);
    let specs: Vec<JobSpec> = (0..5000).map(|_| spec(&mut r)).collect();
    // Labels from a fixed rule plus noise: the timing does not depend on what is learned.
    let mut set = TrainSet { n_classes: 4, ..TrainSet::default() };
    for s in &specs {
        set.x.push(s.features().to_vec());
        set.y.push(((s.gpu_milli / 300) as u64 + r.next() % 2) as usize % 4);
    }
    let started = Instant::now();
    let forest =
        fit(&ModelSpec::Forest { trees: 100, max_depth: None, feature_proportion: 0.7, balance: 0.5, seed: 1 }, &set)
            .unwrap();
    let fit_s = started.elapsed().as_secs_f64();
    let nodes: usize = match &forest {
        Model::Forest { trees, .. } => trees.iter().map(|t| t.nodes.len()).sum(),
        _ => 0,
    };
    let task = |name: &str| TaskModel {
        task: name.into(),
        classes: (0..4).map(|c| c.to_string()).collect(),
        model_name: "forest".into(),
        model: forest.clone(),
    };
    let bundle = ClassifierBundle {
        feature_names: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
        tasks: vec![task("ls_be"), task("qos"), task("failure"), task("duration")],
    };
    println!("fit: 100 trees on {} rows in {fit_s:.2} s; {nodes} nodes", set.len());

    // Latency: one job, all four tasks, repeated; percentiles over single calls.
    let mut lat = Vec::with_capacity(20_000);
    for i in 0..20_000 {
        let s = &specs[i % specs.len()];
        let t = Instant::now();
        black_box(bundle.classify(black_box(s)).unwrap());
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize];
    println!(
        "latency per job (4 tasks × 100 trees): p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );

    // Throughput: batches of 10,000 jobs, three rounds.
    for round in 0..3 {
        let t = Instant::now();
        let mut n = 0;
        for s in specs.iter().cycle().take(10_000) {
            n += black_box(bundle.classify(s).unwrap()).len();
        }
        let secs = t.elapsed().as_secs_f64();
        println!("round {round}: 10,000 jobs ({n} task predictions) in {:.3} s = {:.0} jobs/s", secs, 10_000.0 / secs);
    }
}
