# appliance/es5/: ES5 delivery to eUICCs (queue, SMS/SCP80 over SMPP, HTTPS/SCP81), in libapp.a.
app_SRCS += $(wildcard appliance/es5/*.c)
