"""The node suite's default names and QoS: one place, so every node and test agrees.

Names are relative (no leading slash), so ``namespace:=arm1`` moves the whole suite under
``/arm1``; every one is remappable with the usual ``--ros-args -r old:=new``. ``/clock`` and
``/diagnostics`` are absolute by ROS convention.
"""

from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

# -- topics ----------------------------------------------------------------------------------
JOINT_STATES = 'joint_states'  # sensor_msgs/JointState, radians, from driver_node / sim_node
# sensor_msgs/JointState with names and positions (radians): the executor's command to the
# driver or the simulator (velocity/effort unused).
JOINT_COMMAND = 'smolvla/joint_command'
CAMERA_IMAGE = 'smolvla/cameras/{slot}/image_raw'  # sensor_msgs/Image
CAMERA_COMPRESSED = 'smolvla/cameras/{slot}/image_raw/compressed'  # image_transport convention
CAMERA_INFO = 'smolvla/cameras/{slot}/camera_info'  # sensor_msgs/CameraInfo
ACTION_CHUNK = 'smolvla/action_chunk'  # smolvla_interfaces/ActionChunk
TRAJECTORY = 'smolvla/action_chunk/trajectory'  # trajectory_msgs/JointTrajectory (same chunk)
CHUNK_REQUEST = 'smolvla/chunk_request'  # smolvla_interfaces/ChunkRequest
INSTRUCTION = 'smolvla/instruction'  # std_msgs/String
POLICY_STATUS = 'smolvla/policy_status'  # smolvla_interfaces/PolicyStatus
EXECUTOR_STATUS = 'smolvla/executor_status'  # smolvla_interfaces/ExecutorStatus
PLANNED_PATH = 'smolvla/planned_path'  # visualization_msgs/MarkerArray (RViz)
TASK_SUCCESS = 'smolvla/task_success'  # std_msgs/Bool: the simulator's success check
# geometry_msgs/PoseStamped in base_link, latched: privileged simulator state for the scripted
# expert (a camera policy never reads these).
SIM_CUBE_POSE = 'smolvla/sim/cube_pose'
SIM_BIN_POSE = 'smolvla/sim/bin_pose'
CLOCK = '/clock'  # rosgraph_msgs/Clock, from sim_node
DIAGNOSTICS = '/diagnostics'  # diagnostic_msgs/DiagnosticArray

# -- services and actions --------------------------------------------------------------------
SET_INSTRUCTION = 'smolvla/set_instruction'  # smolvla_interfaces/SetInstruction
RUN_TASK = 'smolvla/run_task'  # smolvla_interfaces/RunTask (action)
ESTOP = 'smolvla/estop'  # std_srvs/Trigger: latch the executor's emergency stop
RESET_ESTOP = 'smolvla/reset_estop'  # std_srvs/Trigger
HOLD = 'smolvla/hold'  # std_srvs/Trigger: drop the queue, hold, accept only newer chunks
SIM_RESET = 'smolvla/sim/reset'  # std_srvs/Trigger: new scene (cube pose) in the simulator

# -- QoS -------------------------------------------------------------------------------------
# Camera images: best effort, newest only. A late image is worth less than the next one, and
# reliable delivery of 0.8 MB frames over a network stalls the publisher.
SENSOR_QOS: QoSProfile = qos_profile_sensor_data
# Joint states and commands: reliable, short history (a stale command must not queue up).
STATE_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.RELIABLE
)
# Chunks, requests, instructions: reliable; a chunk lost on the way costs a request timeout.
CHUNK_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE
)
# Statuses: reliable and latched (transient local), so a late subscriber (RViz, a test, the
# policy node reading the executor's queue fill) gets the current state at once.
STATUS_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)


def camera_topic(slot: str, compressed: bool = False) -> str:
    """The image topic of a camera slot ('top', 'wrist', 'side')."""
    return (CAMERA_COMPRESSED if compressed else CAMERA_IMAGE).format(slot=slot)


def camera_info_topic(slot: str) -> str:
    """The camera_info topic of a camera slot."""
    return CAMERA_INFO.format(slot=slot)
