export const APP_NAME = 'Edge Console';
export const APP_VERSION = '0.1.0';
