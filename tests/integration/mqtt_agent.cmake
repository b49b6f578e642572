# The self-metrics topic <prefix>/<site>/agent (issue 7): the real dcem-agent, a real mosquitto,
# an independent subscriber (tests/integration/test_mqtt_agent_topic.py).
dcem_py_test(it_mqtt_agent_topic test_mqtt_agent_topic.py LABELS mqtt TIMEOUT 300)
