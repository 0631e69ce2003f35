"""The call robot (智能外呼): the chat's flow engine and FAQ matcher, spoken (docs/voice.md)."""

from edudesk.voice.robot.dialogue import RobotConfig, run_robot_call

__all__ = ["RobotConfig", "run_robot_call"]
