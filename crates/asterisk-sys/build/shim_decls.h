/* Declarations of the symbols build/shim.c defines, for bindgen. */
extern const char twinning_ast_buildopt_sum[];
extern const char twinning_ast_gpl_key[];
extern const void *const twinning_config_status_filemissing;
extern const void *const twinning_config_status_fileunchanged;
extern const void *const twinning_config_status_fileinvalid;
