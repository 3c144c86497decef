include $(sort $(wildcard $(BR2_EXTERNAL_ANTT_PATH)/package/*/*.mk))
