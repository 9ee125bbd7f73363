# bash completion for octoray-run: commands, each command's options, device kinds for
# --devices, values of --fallback and --format, and file names (for gzip -d, -t and -l, the
# names gzip would decompress). Works with or without the bash-completion package.
# Installed as share/bash-completion/completions/octoray-run.

_octoray_run_files()
{
	# $1: an extglob pattern for files, or empty for any file; directories always
	local cur=$1 pattern=$2 IFS=$'\n' extglob
	extglob=$(shopt -p extglob) # the patterns need it; leave the shell as it was
	shopt -s extglob
	if [[ -n $pattern ]]; then
		COMPREPLY=($(compgen -d -- "$cur"; compgen -f -X "!$pattern" -- "$cur"))
	else
		COMPREPLY=($(compgen -f -- "$cur"))
	fi
	eval "$extglob"
	compopt -o filenames 2>/dev/null || : # only inside a completion
}

_octoray_run()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local cmd=${COMP_WORDS[1]} i
	local devopts="--devices -p --processes --verify --no-verify --fallback --watchdog --xclbin --mmap"
	COMPREPLY=()

	if ((COMP_CWORD == 1)); then
		COMPREPLY=($(compgen -W "gzip cnv devices version --help --version" -- "$cur"))
		return
	fi

	case $prev in
	--devices)
		# one item of a SPEC: after a '+', complete the next item
		local head= item=$cur
		[[ $cur == *+* ]] && head=${cur%+*}+ && item=${cur##*+}
		local kinds="all cpu cpu: xrt xrt: sim: fault:cpu: fault:sim:"
		COMPREPLY=($(compgen -P "$head" -W "$kinds" -- "$item"))
		[[ ${COMPREPLY[0]} == *: ]] && { compopt -o nospace 2>/dev/null || :; }
		return
		;;
	--fallback)
		COMPREPLY=($(compgen -W "cpu none" -- "$cur"))
		return
		;;
	--format)
		COMPREPLY=($(compgen -W "text csv json none" -- "$cur"))
		return
		;;
	--xclbin)
		_octoray_run_files "$cur" '*.xclbin'
		return
		;;
	--weights)
		COMPREPLY=($(compgen -d -- "$cur"))
		return
		;;
	--model)
		_octoray_run_files "$cur" '*.orym'
		return
		;;
	-o | --output | --stats-json)
		_octoray_run_files "$cur"
		return
		;;
	-b | --blocksize | -S | --suffix | --range | -p | --processes | --watchdog | --batch)
		return # a number or a suffix: nothing to offer
		;;
	esac

	case $cmd in
	gzip)
		if [[ $cur == -* ]]; then
			local opts="-c --stdout -d --decompress -t --test -l --list -f --force -k
				--keep -o --output -r --recursive -1 -2 -3 -4 -5 -6 -7 -8 -9 --fast
				--best -b --blocksize -i --independent --primed -n --no-name -N --name -T
				--no-time -M --time -S --suffix --range --synchronous -R --rsyncable -v --verbose
				--stats-json --progress -q --quiet -V --version -h --help $devopts"
			COMPREPLY=($(compgen -W "$opts" -- "$cur"))
			return
		fi
		# reading compressed files: only what gzip -d would take (and directories, for -r)
		for ((i = 2; i < COMP_CWORD; i++)); do
			local w=${COMP_WORDS[i]}
			if [[ $w == --decompress || $w == --uncompress || $w == --test ||
				$w == --list || ($w == -[!-]* && ${w:1} == *[dtl]*) ]]; then
				_octoray_run_files "$cur" '*.@(gz|GZ|z|Z|tgz|TGZ|taz|TAZ|Gz)'
				return
			fi
		done
		_octoray_run_files "$cur"
		;;
	cnv)
		if [[ $cur == -* ]]; then
			local opts="--model --weights --raw --batch --format -o --output -f --force
				-v --verbose -q --quiet -h --help $devopts"
			COMPREPLY=($(compgen -W "$opts" -- "$cur"))
			return
		fi
		_octoray_run_files "$cur"
		;;
	devices)
		COMPREPLY=($(compgen -W "--devices -h --help" -- "$cur"))
		;;
	esac
}

complete -F _octoray_run octoray-run
