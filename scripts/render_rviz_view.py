"""Render a picture of what rviz/smolvla.rviz shows, from the simulator's state (not RViz).

rviz2 cannot run on the machines this project is built on, so this draws the same content from
the MuJoCo SO-101: the arm from an orbit view like the RViz config's, the executor's planned path
(the gripper tool frame through the next chunk of the scripted expert's plan, computed with the
executor's own URDF forward kinematics, ``smolvla_ros.planned_path``) as green spheres, and the
three camera images (top, wrist, side) beside it.

    MUJOCO_GL=osmesa python scripts/render_rviz_view.py docs/images/rviz_view.png
"""

from __future__ import annotations

import sys

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt
import mujoco
import numpy as np

from smolvla_ros.planned_path import UrdfChain, default_urdf_path, planned_path_points
from so_arm_driver.robots import JOINT_NAMES
from so_arm_driver.sim import Kinematics, ScriptedExpert, SimConfig, Simulator

SEED = 0
MID_PLAN_S = 0.4  # the arm is shown this far into the plan [s]
CHUNK = 60  # actions in the drawn path
DT_S = 1 / 30  # seconds between actions


def main(out: str) -> None:
    sim = Simulator(SimConfig(image_width=256, image_height=192))
    plan = ScriptedExpert(Kinematics(sim.model)).plan(sim.reset(SEED))
    t = 0.0
    while t < MID_PLAN_S:  # follow the plan with the simulated servos
        sim.set_goals(plan.at(t))
        sim.step()
        t = sim.time_s
    times = t + DT_S * np.arange(1, CHUNK + 1)
    chunk = np.stack([plan.at(s) for s in times])  # (CHUNK, 6) rad
    chain = UrdfChain.from_urdf(default_urdf_path())
    path = planned_path_points(chain, JOINT_NAMES, chunk)  # (CHUNK, 3) m in base_link
    now = planned_path_points(chain, JOINT_NAMES, sim.joint_positions()[None, :])[0]
    cameras = sim.render()

    # the scene model's offscreen buffer is sized for the cameras; this view is larger
    sim.model.vis.global_.offwidth = max(sim.model.vis.global_.offwidth, 640)
    sim.model.vis.global_.offheight = max(sim.model.vis.global_.offheight, 480)
    renderer = mujoco.Renderer(sim.model, 480, 640)
    camera = mujoco.MjvCamera()
    camera.lookat[:] = (0.12, 0.0, 0.1)
    camera.distance, camera.azimuth, camera.elevation = 0.7, 135.0, -28.0
    option = mujoco.MjvOption()
    option.frame = mujoco.mjtFrame.mjFRAME_BODY  # body axes, like RViz's TF display
    renderer.update_scene(sim.data, camera, scene_option=option)
    scene = renderer.scene
    for k, p in enumerate(path):  # the planned-path marker (LINE_STRIP in RViz)
        if scene.ngeom >= scene.maxgeom:
            break
        mujoco.mjv_initGeom(
            scene.geoms[scene.ngeom],
            mujoco.mjtGeom.mjGEOM_SPHERE,
            np.array([0.005, 0, 0]),
            p.astype(np.float64),
            np.eye(3).ravel(),
            np.array([0.1, 0.9, 0.2, 1.0 - 0.6 * k / len(path)], dtype=np.float32),
        )
        scene.ngeom += 1
    view = renderer.render()
    renderer.close()

    fig = plt.figure(figsize=(10, 5.2), dpi=100)
    grid = fig.add_gridspec(3, 2, width_ratios=(2.2, 1.0))
    ax = fig.add_subplot(grid[:, 0])
    ax.imshow(view)
    ax.set_title('RobotModel, TF axes, planned path (green, fading along the chunk)', fontsize=9)
    ax.axis('off')
    for row, slot in enumerate(('top', 'wrist', 'side')):
        a = fig.add_subplot(grid[row, 1])
        a.imshow(cameras[slot])
        a.set_title(f'/smolvla/cameras/{slot}/image_raw', fontsize=8)
        a.axis('off')
    fig.suptitle(
        f'Render of the RViz view from the MuJoCo simulator (seed {SEED}, t = {t:.2f} s); '
        'not an RViz screenshot',
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(out)
    tip_error = float(np.linalg.norm(now - path[0]))
    print(f'wrote {out}: path {len(path)} points, first point {tip_error * 1000:.1f} mm from tip')
    sim.close()


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else 'docs/images/rviz_view.png')
