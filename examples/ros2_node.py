"""UNTESTED sketch (rclpy is not available on our machines): avsc-edge inside a ROS 2 node.

Subscribes to an audio topic (audio_common_msgs/AudioData, 16-bit PCM mono) and an image topic
(sensor_msgs/Image, rgb8), pushes both into a StreamClassifier with their header/arrival stamps,
and publishes each prediction as a std_msgs/String JSON line on /scene. The classifier's worker
thread does the compute; the callbacks only copy and enqueue (bounded, drop-oldest).
"""
from __future__ import annotations

import json

import numpy as np
import rclpy
from audio_common_msgs.msg import AudioData
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import String

from avsc_edge.stream import StreamClassifier


class SceneNode(Node):
    def __init__(self) -> None:
        super().__init__("avsc_scene")
        model = self.declare_parameter("model", "model.onnx").value
        self.sr = int(self.declare_parameter("sample_rate", 16000).value)
        self.pub = self.create_publisher(String, "scene", 10)
        self.sc = StreamClassifier(model, sample_rate=self.sr, hop=1.0, on_prediction=self.publish)
        self.create_subscription(AudioData, "audio", self.on_audio, 50)
        self.create_subscription(Image, "image", self.on_image, 5)

    def now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def on_audio(self, msg: AudioData) -> None:
        pcm = np.frombuffer(bytes(msg.data), dtype="<i2").astype(np.float32) / 32768.0
        self.sc.push_audio(pcm, timestamp=self.now() - len(pcm) / self.sr)

    def on_image(self, msg: Image) -> None:
        rgb = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(msg.height, msg.width, 3)
        self.sc.push_frame(rgb, timestamp=msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9)

    def publish(self, p) -> None:  # called on the classifier's worker thread
        self.pub.publish(String(data=json.dumps({"timestamp": p.timestamp, "label": p.label, "confidence": p.confidence,
                                                 "modalities": list(p.modalities), "notes": p.notes})))


def main() -> None:
    rclpy.init()
    node = SceneNode()
    try:
        rclpy.spin(node)
    finally:
        node.sc.close()
        node.destroy_node()
        rclpy.shutdown()


if __name__ == "__main__":
    main()
