"""Modules split by job keep their old import paths, and every hepc9 module stays small.

``LAYOUT`` maps each former module to the names that tests and callers import from it, with the
module that now holds each one.
"""

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import hepc9

ROOT = Path(hepc9.__file__).parent

#: Former module → {name imported from it: module that now defines it}.
LAYOUT = {'hepc9.background': {'BACKGROUND_COLUMNS': 'hepc9.background.model',
                          '_p32': 'hepc9.background.shapes',
                          'argus_cdf': 'hepc9.background.shapes',
                          'background_yield': 'hepc9.background.model',
                          'cosine_cdf': 'hepc9.background.shapes',
                          'generate_background': 'hepc9.background.model',
                          'legendre_cdf': 'hepc9.background.shapes',
                          'linear_cdf': 'hepc9.background.shapes',
                          'region_fraction': 'hepc9.background.model',
                          'sample_argus': 'hepc9.background.shapes',
                          'sample_cosine': 'hepc9.background.shapes',
                          'sample_legendre': 'hepc9.background.shapes',
                          'sample_linear': 'hepc9.background.shapes'},
     'hepc9.artifacts': {'Manifest': 'hepc9.artifacts.manifest',
                         'atomic_path': 'hepc9.artifacts.atomic',
                         'check_target': 'hepc9.artifacts.atomic',
                         'file_digest': 'hepc9.artifacts.manifest',
                         'folder_digest': 'hepc9.artifacts.manifest',
                         'folder_lock': 'hepc9.artifacts.manifest',
                         'json_default': 'hepc9.artifacts.atomic',
                         'output_digest': 'hepc9.artifacts.manifest',
                         'package_versions': 'hepc9.artifacts.manifest',
                         'read_json': 'hepc9.artifacts.atomic',
                         'sweep_stale_temporaries': 'hepc9.artifacts.atomic',
                         'write_json': 'hepc9.artifacts.atomic',
                         'write_text': 'hepc9.artifacts.atomic'},
     'hepc9.datasets.store': {'ChunkedArray': 'hepc9.datasets.reader',
                              'Dataset': 'hepc9.datasets.reader',
                              'open_dataset': 'hepc9.datasets.reader',
                              'read_index': 'hepc9.datasets.reader',
                              'write_dataset': 'hepc9.datasets.store'},
     'hepc9.datasets.voxelize': {'AXES': 'hepc9.datasets.image_spec',
                                 'CHANNELS': 'hepc9.datasets.image_spec',
                                 'ImageSpec': 'hepc9.datasets.image_spec',
                                 'TWO_PI': 'hepc9.datasets.image_spec',
                                 'default_q2_scale': 'hepc9.datasets.image_spec',
                                 'voxelize': 'hepc9.datasets.voxelize',
                                 'voxelize_batch': 'hepc9.datasets.voxelize',
                                 'voxelize_boost': 'hepc9.datasets.voxel_boost'},
     'hepc9.detector': {'ANGLE_COLUMNS': 'hepc9.detector.columns',
                        'BACKGROUND_INPUT_COLUMNS': 'hepc9.detector.columns',
                        'DETECTOR_STEPS': 'hepc9.detector.columns',
                        'EfficiencyTable': 'hepc9.detector.efficiency',
                        'FOUR_VECTOR_COLUMNS': 'hepc9.detector.columns',
                        '_NORMAL_BLOCK': 'hepc9.detector.response',
                        '_draw_normals': 'hepc9.detector.response',
                        '_geometry_kernel': 'hepc9.detector.geometry',
                        '_geometry_numpy': 'hepc9.detector.geometry',
                        '_geometry_params': 'hepc9.detector.geometry',
                        '_stack_tracks': 'hepc9.detector.columns',
                        'accept_background': 'hepc9.detector.background_tracks',
                        'beam_energy_spread': 'hepc9.detector.parametrisation',
                        'kaon_id_efficiency': 'hepc9.detector.parametrisation',
                        'muon_id_efficiency': 'hepc9.detector.parametrisation',
                        'pt_resolution': 'hepc9.detector.parametrisation',
                        'simulate_detector': 'hepc9.detector.response'},
     'hepc9.generate.sampler': {'FLAVOURS': 'hepc9.generate.checks',
                                'LINE_SHAPES': 'hepc9.generate.checks',
                                'MassQ2Table': 'hepc9.generate.mass_table',
                                'Q2Table': 'hepc9.generate.tables',
                                '_angular_bound': 'hepc9.generate.mapping',
                                '_angular_bound_fast': 'hepc9.generate.tables',
                                '_angular_sum': 'hepc9.generate.kernels',
                                '_check_relbw_window_fraction': 'hepc9.generate.mass_table',
                                '_dq2_dv': 'hepc9.generate.mapping',
                                '_draw_guided': 'hepc9.generate.kernels',
                                '_exact_total_at_mass': 'hepc9.generate.reference',
                                '_mass_table': 'hepc9.generate.mass_table',
                                '_q2_to_v': 'hepc9.generate.mapping',
                                '_sample_chunk_narrow': 'hepc9.generate.kernels',
                                '_sample_chunk_relbw': 'hepc9.generate.kernels',
                                '_total_at_mass_quadrature': 'hepc9.generate.reference',
                                '_v_to_q2': 'hepc9.generate.mapping',
                                'lab_four_vectors': 'hepc9.generate.lab',
                                'relbw_line_shape': 'hepc9.generate.lineshape',
                                'relbw_mass_range': 'hepc9.generate.lineshape',
                                'resolve_threads': 'hepc9.generate.checks',
                                'sample_events': 'hepc9.generate.sampler',
                                'sample_events_numpy': 'hepc9.generate.reference'},
     'hepc9.kinematics': {'BELLE2': 'hepc9.kinematics.beams',
                          'BeamSpec': 'hepc9.kinematics.beams',
                          'M_B0': 'hepc9.kinematics.boosts',
                          'M_ELECTRON': 'hepc9.kinematics.beams',
                          'PARTICLE_KEYS': 'hepc9.kinematics.boosts',
                          '_sample_costheta': 'hepc9.kinematics.lab',
                          '_wrap_chi': 'hepc9.kinematics.boosts',
                          'angles_from_four_vectors': 'hepc9.kinematics.angles',
                          'angles_from_four_vectors_numpy': 'hepc9.kinematics.angles',
                          'boost': 'hepc9.kinematics.boosts',
                          'four_vectors_from_angles': 'hepc9.kinematics.decay',
                          'four_vectors_from_angles_numpy': 'hepc9.kinematics.decay',
                          'invariant_cosines': 'hepc9.kinematics.angles',
                          'lab_to_cm': 'hepc9.kinematics.beams',
                          'random_rotations': 'hepc9.kinematics.lab',
                          'to_lab': 'hepc9.kinematics.lab',
                          'to_lab_numpy': 'hepc9.kinematics.lab'},
     'hepc9.pipeline.executors': {'SerialExecutor': 'hepc9.runner'},
     'hepc9.plots': {'AXIS_LABELS': 'hepc9.plots.style',
                     'plot_distributions': 'hepc9.plots.data',
                     'plot_efficiency': 'hepc9.plots.data',
                     'plot_image_slices': 'hepc9.plots.data',
                     'plot_likelihood_scan': 'hepc9.plots.results',
                     'plot_linearity': 'hepc9.plots.results',
                     'plot_mbc_delta_e': 'hepc9.plots.data',
                     'plot_prediction_histograms': 'hepc9.plots.results',
                     'plot_sigma_over_crb': 'hepc9.plots.results',
                     'plot_training_history': 'hepc9.plots.results',
                     'save_figure': 'hepc9.plots.style'},
     'hepc9.rootio.ingest': {'IngestStream': 'hepc9.rootio.ingest_stream',
                             'iterate_any': 'hepc9.rootio.ingest',
                             'load_events': 'hepc9.rootio.ingest'},
     'hepc9.rootio.native': {'COMPRESSIONS': 'hepc9.rootio.native_schema',
                             'CORE_COLUMNS': 'hepc9.rootio.native_schema',
                             'EVENTS_TREE': 'hepc9.rootio.native_schema',
                             'META_KEY': 'hepc9.rootio.native_schema',
                             'NATIVE_DTYPES': 'hepc9.rootio.native_schema',
                             'REQUIRED_META_KEYS': 'hepc9.rootio.native_schema',
                             'file_summary': 'hepc9.rootio.native',
                             'iterate_events': 'hepc9.rootio.native',
                             'make_meta': 'hepc9.rootio.native_meta',
                             'read_events': 'hepc9.rootio.native',
                             'read_meta': 'hepc9.rootio.native_meta',
                             'write_events': 'hepc9.rootio.native_write'}}

MOVED = [(old, name) for old, names in LAYOUT.items() for name in sorted(names)]


def _all_modules():
    return sorted(m.name for m in pkgutil.walk_packages(hepc9.__path__, "hepc9.")
                  if not m.name.endswith("__main__"))


@pytest.mark.parametrize(("old", "name"), MOVED)
def test_old_path_reexports_the_moved_object(old, name):
    home = LAYOUT[old][name]
    obj = getattr(importlib.import_module(home), name)
    assert getattr(importlib.import_module(old), name) is obj
    if inspect.isfunction(obj) or inspect.isclass(obj):
        assert obj.__module__ == home


@pytest.mark.parametrize("old", sorted(LAYOUT))
def test_every_public_name_of_the_old_path_resolves(old):
    mod = importlib.import_module(old)
    for name in mod.__all__:
        assert getattr(mod, name) is not None


@pytest.mark.parametrize("module", _all_modules())
def test_modules_are_small_and_declare_all(module):
    mod = importlib.import_module(module)
    assert isinstance(mod.__all__, list | tuple)
    for name in mod.__all__:
        assert hasattr(mod, name), name
    lines = Path(mod.__file__).read_text(encoding="utf-8").count("\n")
    assert lines <= 600, f"{module} has {lines} lines"


def test_no_module_file_shadows_the_packages():
    for name in ("kinematics", "detector", "background", "config", "cli", "train", "artifacts",
                 "plots"):
        assert (ROOT / name / "__init__.py").is_file()
        assert not (ROOT / f"{name}.py").exists()


def test_ingest_reexports_layout_detection():
    from hepc9.rootio import ingest, layouts

    for name in ("LAYOUTS", "detect_layout", "expand_paths"):
        assert getattr(ingest, name) is getattr(layouts, name)
