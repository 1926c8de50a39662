"""SimArm keeps the Arm contract; the simulator is deterministic, renders, and runs the task."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from so_arm_driver.arm import Arm
from so_arm_driver.robots import SO101
from so_arm_driver.sim import (
    SimArm,
    SimConfig,
    SimConfigError,
    SimGoalError,
    Simulator,
    UnknownJointError,
    run_episode,
)
from so_arm_driver.sim.scene import build_model


@pytest.fixture
def arm():
    with SimArm(config=SimConfig(image_width=64, image_height=48)) as a:
        yield a


def test_sim_arm_is_an_arm(arm):
    assert isinstance(arm, Arm)
    assert arm.joint_names == SO101.joint_names
    np.testing.assert_allclose(arm.limits_rad[:, 0], [j.lower_rad for j in SO101.joints])


def test_goals_are_tracked_by_the_servos(arm):
    goal = np.array([0.3, -0.8, 0.9, 0.7, 0.5, 0.4])
    arm.write_goals(goal)
    arm.step(30)  # one second at 30 Hz
    np.testing.assert_allclose(arm.read_positions(), goal, atol=0.03)
    assert arm.time_s == pytest.approx(30 * arm.sim.config.effective_control_dt_s)


def test_place_arm_sets_the_pose_without_time_passing_and_the_servos_hold_it(arm):
    pose = np.array([0.3, -0.8, 0.9, 0.7, 0.5, 0.4])  # the pose the test above tracks to
    arm.sim.place_arm(pose)
    np.testing.assert_allclose(arm.read_positions(), pose)
    np.testing.assert_allclose(arm.sim.goals(), pose)
    assert arm.time_s == 0.0
    arm.step(30)
    np.testing.assert_allclose(arm.read_positions(), pose, atol=0.03)


def test_nan_goal_is_rejected_and_changes_nothing(arm):
    before = arm.sim.goals()
    goal = np.zeros(6)
    goal[2] = np.nan
    with pytest.raises(SimGoalError, match='elbow_flex'):
        arm.write_goals(goal)
    np.testing.assert_array_equal(arm.sim.goals(), before)
    with pytest.raises(SimGoalError, match='shape'):
        arm.write_goals(np.zeros(5))


def test_unknown_joint_is_an_error_and_changes_nothing(arm):
    before = arm.sim.goals()
    with pytest.raises(UnknownJointError, match='elbow'):
        arm.write_named_goals({'elbow': 0.1, 'gripper': 0.2})
    np.testing.assert_array_equal(arm.sim.goals(), before)
    result = arm.write_named_goals({'gripper': 0.2})
    assert result.sent_rad[5] == pytest.approx(0.2)


def test_out_of_limit_goals_are_clamped_and_counted(arm):
    goal = np.array([5.0, 0.0, -5.0, 0.0, 0.0, 0.0])
    result = arm.write_goals(goal)
    assert result.clamped == ('shoulder_pan', 'elbow_flex')
    assert result.sent_rad[0] == pytest.approx(1.91986)
    assert result.sent_rad[2] == pytest.approx(-1.69)
    arm.write_goals(goal)
    assert arm.clamp_counts['shoulder_pan'] == 2
    assert arm.clamp_counts['gripper'] == 0


def test_torque_off_lets_the_arm_sag_under_gravity(arm):
    arm.write_goals(np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0]))  # stretched out: max gravity load
    arm.step(30)
    held = arm.read_positions()
    arm.set_torque(False)
    arm.step(30)
    sagged = arm.read_positions()
    assert np.max(np.abs(sagged - held)) > 0.2


def test_same_seed_same_cube_and_motion():
    config = SimConfig(image_width=32, image_height=32)
    runs = []
    for _ in range(2):
        with Simulator(config) as sim:
            sim.reset(7)
            sim.set_goals(np.array([0.2, -0.5, 0.5, 1.0, 0.0, 0.5]))
            sim.step(10)
            runs.append((sim.cube_pose()[0], sim.joint_positions()))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    with Simulator(config) as sim:
        sim.reset(8)
        assert not np.allclose(sim.cube_pose()[0], runs[0][0])


def test_physics_rate_is_independent_of_control_rate():
    # Same goal, same simulated time, two control rates: the arm ends in the same place.
    finals = []
    for control_dt in (1 / 30, 1 / 10):
        with Simulator(SimConfig(control_dt_s=control_dt)) as sim:
            sim.set_goals(np.array([0.3, -0.6, 0.6, 1.0, 0.2, 0.5]))
            sim.step(round(1.2 / sim.config.effective_control_dt_s))
            assert sim.time_s == pytest.approx(1.2, abs=1e-6)
            finals.append(sim.joint_positions())
    np.testing.assert_allclose(finals[0], finals[1], atol=1e-9)


def test_cameras_render_distinct_nonblank_images():
    with Simulator(SimConfig(image_width=160, image_height=128)) as sim:
        images = sim.render()
        assert set(images) == {'top', 'wrist', 'side'}
        for img in images.values():
            assert img.shape == (128, 160, 3)
            assert img.dtype == np.uint8
            assert img.std() > 10  # not a blank frame
        assert not np.array_equal(images['top'], images['side'])
        # The red cube is visible from the top camera: strongly red pixels exist.
        top = images['top'].astype(int)
        red = (top[..., 0] > top[..., 1] + 60) & (top[..., 0] > top[..., 2] + 60)
        assert red.sum() >= 4
        with pytest.raises(SimConfigError, match='front'):
            sim.render(('front',))


def test_one_scene_update_per_frame_renders_what_a_full_update_per_camera_renders():
    # The fast path updates geoms once and only moves camera and headlight for the other
    # views; MuJoCo's own per-camera full update (Renderer.update_scene) is the reference.
    with Simulator(SimConfig(image_width=96, image_height=80)) as sim:
        sim.set_goals(np.array([0.4, -0.5, 0.5, 0.9, 0.3, 0.6]))
        sim.step(6)
        images = sim.render()
        reference = mujoco.Renderer(sim.model, 80, 96)
        try:
            reference.scene.flags[:] = sim._ensure_renderer().scene.flags
            for slot in ('top', 'wrist', 'side'):
                reference.update_scene(sim.data, camera=slot)
                np.testing.assert_array_equal(images[slot], reference.render(), err_msg=slot)
        finally:
            reference.close()


def test_offscreen_buffer_is_the_image_size_and_antialiasing_is_opt_in():
    # A larger buffer or 4x multisampling costs CPU time per frame for pixels nobody reads.
    fast = build_model(SimConfig(image_width=200, image_height=120))
    assert (fast.vis.global_.offwidth, fast.vis.global_.offheight) == (200, 120)
    assert fast.vis.quality.offsamples == 0
    assert build_model(SimConfig(render_antialias=True)).vis.quality.offsamples == 4


def test_bad_config_is_rejected():
    with pytest.raises(SimConfigError, match='physics_dt_s'):
        SimConfig(physics_dt_s=0.0)
    with pytest.raises(SimConfigError, match='image_width'):
        SimConfig(image_width=4)
    with pytest.raises(SimConfigError, match='robot'):
        SimConfig(robot='ur5')


def test_cube_resting_on_table_is_not_a_success():
    with Simulator() as sim:
        sim.step(10)
        assert not sim.cube_in_bin()
        assert not sim.cube_lifted()


def test_scripted_expert_succeeds_nine_of_ten():
    # The acceptance check; about 10 s of CPU, so it runs in CI by default.
    with Simulator() as sim:
        successes = sum(run_episode(sim, seed).success for seed in range(10))
    assert successes >= 9


def _colour_masks(image: np.ndarray) -> dict[str, np.ndarray]:
    # Scene colours (scene.py): cube red (0.85, 0.1, 0.1), bin blue (0.15, 0.35, 0.75), arm
    # yellow (0.95, 0.72, 0.12), moving jaw orange (0.9, 0.45, 0.1). Shading scales all channels
    # together, so ratios between channels identify a colour whatever the light.
    r, g, b = (image[..., i].astype(float) + 1.0 for i in range(3))
    return {
        'cube': (r > 60) & (g / r < 0.3) & (b / r < 0.3),
        'bin': (b > 60) & (r / b < 0.45) & (g / b < 0.65),
        'arm': (r > 60) & (g / r > 0.6) & (g / r < 0.9) & (b / r < 0.35),
        'jaw': (r > 60) & (g / r > 0.35) & (g / r < 0.6) & (b / r < 0.3),
    }


@pytest.mark.parametrize('seed', [0, 2])
def test_every_camera_shows_arm_cube_and_bin_at_home(seed):
    # The "done when": arm, cube and bin visible from each camera; the wrist camera
    # also shows the moving jaw. Small pixel counts would be noise; these are clear regions.
    # Seed 0 is what `smolvla-sim render` shows. Not every seed passes: a cube near the
    # fixed finger or under the raised gripper can be hidden from one camera: 9 of seeds 0..19
    # show it in all three views (README); 0 and 2 are two of those.
    with Simulator(SimConfig(seed=seed)) as sim:
        sim.reset(seed)
        sim.step(15)  # settle at home, as `smolvla-sim render` does
        images = sim.render()
    for slot, image in images.items():
        masks = _colour_masks(image)
        assert masks['cube'].sum() >= 15, f'{slot}: cube not visible'
        assert masks['bin'].sum() >= 200, f'{slot}: bin not visible'
        assert masks['arm'].sum() + masks['jaw'].sum() >= 200, f'{slot}: arm not visible'
    assert _colour_masks(images['wrist'])['jaw'].sum() >= 20, 'wrist: jaw not visible'
